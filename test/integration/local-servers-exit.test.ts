import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isListening } from "../../src/dev/local-servers.ts";
import { devGatewayScript, localServerPids, ROOT } from "../helpers/dev-gateway.ts";
import { freePort } from "../helpers/servers.ts";

test(
  "a gateway that exits without closing (shutdown grace exceeded, a crash) takes its local servers along",
  { timeout: 60_000 },
  async () => {
    // `npm start` for the default URLs, then an exit that skips close(): main.ts's
    // "shutdown grace period exceeded; exiting" is process.exit(1). The nats-server and
    // redis-server it had started kept running, holding their ports and data directories,
    // and the next `npm start` used them as found and never stopped them
    const dir = mkdtempSync(join(tmpdir(), "buildcast-local-exit-"));
    const natsPort = await freePort();
    const redisPort = await freePort();
    const script = devGatewayScript(
      dir,
      { nats: natsPort, redis: redisPort },
      "await startGateway(loaded, { logger }); process.exit(1);",
    );
    const pids: number[] = [];
    try {
      const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 45_000,
      });
      pids.push(...localServerPids(run.stdout));
      assert.equal(run.status, 1, run.stderr);
      assert.equal(pids.length, 2, run.stdout);
      const deadline = Date.now() + 10_000;
      let listening = { nats: true, redis: true };
      while (Date.now() < deadline && (listening.nats || listening.redis)) {
        listening = {
          nats: await isListening("127.0.0.1", natsPort),
          redis: await isListening("127.0.0.1", redisPort),
        };
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.deepEqual(
        listening,
        { nats: false, redis: false },
        "local servers still running 10 s after the exit",
      );
    } finally {
      // what a failure of this test leaves behind, by the pids the gateway logged
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone, as it should be
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
