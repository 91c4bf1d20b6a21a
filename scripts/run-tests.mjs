#!/usr/bin/env node
// Runs node's built-in test runner over test/<suite>/**/*.test.ts with tsx.
// Node 20's --test does not expand globs itself, so the files are listed here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";

const suites = process.argv.slice(2);
if (suites.length === 0) suites.push("unit", "integration", "e2e");

function collect(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return collect(path);
      return name.endsWith(".test.ts") ? [path] : [];
    });
}

const files = suites.flatMap((suite) => collect(join("test", suite)));
if (files.length === 0) {
  console.error(`no test files under test/{${suites.join(",")}}`);
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? "2";
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-timeout=180000", ...files],
  { stdio: "inherit", env: { ...process.env, NODE_ENV: "test" } },
);
process.exit(result.status ?? 1);
