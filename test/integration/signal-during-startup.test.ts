import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isListening } from "../../src/dev/local-servers.ts";
import { freePort } from "../helpers/servers.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const module = (path: string): string => JSON.stringify(pathToFileURL(join(ROOT, path)).href);

/** Processes whose working directory is under `dir`. */
function runningIn(dir: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`).startsWith(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

test(
  "a SIGTERM or SIGHUP while the gateway still starts takes the local servers it started along",
  { timeout: 90_000 },
  async () => {
    // `npm start` for the default URLs, stopped (or its terminal closed) while it was still
    // starting: the signal handlers came only after the start, so Node died of the signal,
    // skipping the exit handlers too, and the nats-server it had just started kept running
    for (const signal of ["SIGTERM", "SIGHUP"] as const) {
      const dir = mkdtempSync(join(tmpdir(), "buildcast-signal-start-"));
      const natsPort = await freePort();
      const redisPort = await freePort();
      const script = `
        import { loadConfig } from ${module("src/config/load.ts")};
        import { runGateway } from ${module("src/run-gateway.ts")};
        import { createLogger } from ${module("src/observability/logger.ts")};
        const loaded = loadConfig({
          env: { SMTP_URL: "smtp://127.0.0.1:1" },
          overrides: {
            server: { host: "127.0.0.1", port: 0 },
            nats: { url: "nats://127.0.0.1:${natsPort}" },
            redis: { url: "redis://127.0.0.1:${redisPort}" },
            dev: { dataDir: ${JSON.stringify(join(dir, "data"))} },
            spool: { dir: ${JSON.stringify(join(dir, "spool"))} },
          },
        });
        const logger = createLogger({ level: "info", secrets: [], write: (line) => process.stdout.write(line) });
        await runGateway({ ...loaded, explicit: { natsUrl: false, redisUrl: false } }, { logger });
      `;
      const pids: number[] = [];
      try {
        const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
          cwd: ROOT,
        });
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        let output = "";
        // the first local server started: the gateway is still starting (Redis, the streams…)
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no local server started:\n${output}`)), 45_000);
          child.stdout.on("data", (chunk: Buffer) => {
            output += chunk.toString();
            for (const line of output.split("\n")) {
              const pid = /"msg":"started a local/.test(line) ? /"pid":(\d+)/.exec(line)?.[1] : undefined;
              if (pid !== undefined && !pids.includes(Number(pid))) pids.push(Number(pid));
            }
            if (pids.length > 0 && !/"msg":"buildcast is listening"/.test(output)) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        child.kill(signal);
        await exited;
        const deadline = Date.now() + 10_000;
        let nats = true;
        while (Date.now() < deadline && nats) {
          nats = await isListening("127.0.0.1", natsPort);
          if (nats) await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.equal(
          nats,
          false,
          `${signal}: the local nats-server still runs 10 s after the gateway's exit`,
        );
        assert.equal(
          await isListening("127.0.0.1", redisPort),
          false,
          `${signal}: a local redis-server still runs`,
        );
      } finally {
        // what a failure leaves behind: the pids the gateway logged, and a server it had not
        // logged yet (redis-server runs in its data directory)
        for (const pid of [...pids, ...runningIn(dir)]) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone, as it should be
          }
        }
        rmSync(dir, { recursive: true, force: true });
      }
    }
  },
);
