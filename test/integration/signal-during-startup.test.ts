import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isListening } from "../../src/dev/local-servers.ts";
import { devGatewayScript, localServerPids, ROOT } from "../helpers/dev-gateway.ts";
import { freePort } from "../helpers/servers.ts";

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
      const script = devGatewayScript(
        dir,
        { nats: natsPort, redis: redisPort },
        "await runGateway(loaded, { logger });",
      );
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
            for (const pid of localServerPids(output)) if (!pids.includes(pid)) pids.push(pid);
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
