import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./servers.ts";
import { GITHUB_SECRET, GITLAB_TOKEN } from "./webhooks.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

export interface GatewayProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** everything the process wrote to stdout and stderr */
  output(): string;
  /** SIGKILL, as a crash or an OOM kill would */
  kill(): Promise<void>;
  /** SIGTERM, and resolves with the exit code */
  terminate(): Promise<number | null>;
}

/**
 * The real gateway (`src/main.ts`) as a child process, for tests that kill it. Resolves once
 * /readyz answers 200. `nodeArgs` go to node after tsx's loader (a bench's `--expose-gc`).
 */
export async function startGatewayProcess(
  env: Record<string, string>,
  port?: number,
  nodeArgs: readonly string[] = [],
): Promise<GatewayProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(env, port ?? (await freePort()), nodeArgs);
    } catch (error) {
      // another process (tests run side by side) took the free port between the probe and
      // the gateway's listen: try another; a port the caller chose is theirs to keep
      if (port === undefined && attempt < 3 && /EADDRINUSE/.test(String(error))) continue;
      throw error;
    }
  }
}

async function startOnce(
  env: Record<string, string>,
  chosen: number,
  nodeArgs: readonly string[],
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ...nodeArgs, join(ROOT, "src/main.ts")], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      NODE_ENV: "production",
      PORT: String(chosen),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${chosen}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`gateway not ready within 60 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    url,
    port: chosen,
    child,
    output: () => output,
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
    terminate: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}
