import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort, startNats } from "../helpers/servers.ts";
import { GITHUB_SECRET } from "../helpers/webhooks.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test(
  "the gateway in a terminal that closes (npm start, then the window or SSH session goes) exits",
  { timeout: 90_000 },
  async () => {
    // a real terminal, from util-linux's script: once it is gone, every write to it fails with
    // EIO. pino flushes its queued lines at exit and sonic-boom retried that write forever, so
    // the process drained, stopped its local servers and then hung in its exit, asleep
    const nats = await startNats();
    const dir = mkdtempSync(join(tmpdir(), "buildcast-terminal-"));
    const pidFile = join(dir, "pid");
    const port = await freePort();
    const terminal = spawn(
      "script",
      ["-qfc", `echo $$ > ${pidFile}; exec ${process.execPath} --import tsx src/main.ts`, "/dev/null"],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "/tmp",
          SHELL: "/bin/sh",
          NODE_ENV: "production",
          PORT: String(port),
          HOST: "127.0.0.1",
          NATS_URL: nats.url,
          BUILDCAST_SPOOL_DIR: join(dir, "spool"),
          GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
        },
        stdio: ["pipe", "ignore", "ignore"],
      },
    );
    let pid = 0;
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        assert.ok(Date.now() < deadline, "the gateway did not become ready");
        const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (response) => response.status === 200,
          () => false,
        );
        if (ready && existsSync(pidFile)) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      pid = Number(readFileSync(pidFile, "utf8").trim());
      assert.ok(alive(pid));
      // the terminal goes: the kernel hangs up its session (SIGHUP) and its writes fail
      terminal.kill("SIGKILL");
      const gone = Date.now() + 30_000;
      while (alive(pid) && Date.now() < gone) await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(alive(pid), false, "the gateway process is still there 30 s after its terminal closed");
    } finally {
      if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
      terminal.kill("SIGKILL");
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
