import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

const LOGGER = join(import.meta.dirname, "../../src/observability/logger.ts");

/**
 * Runs `ending` after logging `lines` lines to stdout through the default destination, in a
 * process of its own (stdout a pipe, as under a container runtime); returns what arrived.
 */
async function logThenEnd(lines: number, ending: string): Promise<{ out: string; code: number | null }> {
  const script = `
    const { createLogger } = await import(${JSON.stringify(LOGGER)});
    const logger = createLogger({ level: "info", secrets: ["hunter22-secret"] });
    for (let i = 0; i < ${lines}; i++) logger.info({ seq: i, token: "hunter22-secret" }, "line " + "x".repeat(200));
    ${ending}
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  const chunks: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { out: Buffer.concat(chunks).toString("utf8"), code };
}

const sequence = (out: string): number[] =>
  out
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => (JSON.parse(line) as { seq: number }).seq);

test("stdout log lines written asynchronously all arrive, in order, however the process ends", async () => {
  const count = 5000;
  const everyLine = Array.from({ length: count }, (_, i) => i);
  for (const [how, ending, exitCode] of [
    ["process.exit right after logging", "process.exit(0);", 0],
    ["an uncaught error right after logging", "throw new Error('boom');", 1],
    ["the event loop running dry", "", 0],
  ] as const) {
    const { out, code } = await logThenEnd(count, ending);
    assert.equal(code, exitCode, how);
    assert.deepEqual(sequence(out), everyLine, how);
    assert.doesNotMatch(out, /hunter22-secret/, `${how}: secrets are still scrubbed`);
  }
});
