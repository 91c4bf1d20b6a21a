import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { productionNodeFlags } from "../../bench/processes.ts";

const ROOT = join(import.meta.dirname, "../..");

describe("deployment files", () => {
  it("the Docker image runs the gateway as npm run start:prod does (and the benchmark measures it)", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    assert.ok(cmd, "the Dockerfile has an exec-form CMD");
    const argv = JSON.parse(cmd) as string[];
    assert.equal(argv[0], "node");
    assert.equal(argv.at(-1), "dist/main.js");
    const flags = productionNodeFlags();
    assert.ok(flags.includes("--max-semi-space-size=4"), JSON.stringify(flags));
    assert.ok(flags.includes("--single-threaded-gc"), JSON.stringify(flags));
    assert.deepEqual(argv.slice(1, -1), flags);
  });

  it("compose pins every image it pulls, so `docker compose up` starts the same stack each time", () => {
    const compose = parse(readFileSync(join(ROOT, "deploy/docker-compose.yml"), "utf8")) as {
      services: Record<string, { image?: string; build?: unknown }>;
    };
    const pulled = Object.entries(compose.services).filter(([, s]) => s.build === undefined);
    assert.ok(pulled.length >= 3, "NATS, Redis and the SMTP sink are pulled");
    for (const [name, service] of pulled) {
      const tag = /:([^:/@]+)$/.exec(service.image ?? "")?.[1];
      assert.ok(tag && tag !== "latest", `${name}: image ${service.image ?? "(none)"} has no version tag`);
    }
  });
});
