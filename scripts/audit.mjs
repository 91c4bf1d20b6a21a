#!/usr/bin/env node
// `npm audit --omit=dev` for CI: fails on any high or critical advisory in production
// dependencies. When the advisory service cannot be reached at all (some registry mirrors
// refuse its POST endpoint), it says so plainly and does not pretend the audit passed.
import { spawnSync } from "node:child_process";

const run = spawnSync("npm", ["audit", "--omit=dev", "--json"], { encoding: "utf8" });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error(`audit: npm audit printed no JSON (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  process.exit(1);
}
const counts = report?.metadata?.vulnerabilities;
if (!counts) {
  const reason = report?.message ?? report?.error?.summary ?? "unknown error";
  console.log(`audit: NOT CHECKED — the advisory service could not be reached (${reason})`);
  process.exit(process.env.AUDIT_REQUIRED === "1" ? 1 : 0);
}
const serious = (counts.high ?? 0) + (counts.critical ?? 0);
console.log(
  `audit: production dependencies — critical ${counts.critical ?? 0}, high ${counts.high ?? 0}, ` +
    `moderate ${counts.moderate ?? 0}, low ${counts.low ?? 0}`,
);
if (serious > 0) {
  for (const [name, vuln] of Object.entries(report.vulnerabilities ?? {})) {
    if (vuln.severity === "high" || vuln.severity === "critical")
      console.log(`  ${vuln.severity}: ${name} (${vuln.range})`);
  }
  process.exit(1);
}
