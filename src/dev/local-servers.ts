import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { join, resolve } from "node:path";
import type { Logger } from "../observability/logger.ts";

/** Whether something accepts TCP connections at host:port. */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((done) => {
    const socket = tcpConnect({ host, port });
    const finish = (result: boolean): void => {
      socket.destroy();
      done(result);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

async function waitListening(
  host: string,
  port: number,
  child: ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    if (await isListening(host, port, 200)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`did not listen on ${host}:${port} within ${timeoutMs} ms`);
}

export interface LocalServer {
  readonly name: string;
  stop(): Promise<void>;
}

function spawnServer(command: string, args: string[], logger: Logger): ChildProcess {
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (chunk: Buffer) =>
    logger.debug({ server: command, line: chunk.toString().trim() }, "server output"),
  );
  return child;
}

async function startOne(
  name: string,
  command: string,
  args: string[],
  host: string,
  port: number,
  logger: Logger,
): Promise<LocalServer> {
  const child = spawnServer(command, args, logger);
  const failed = new Promise<never>((_, reject) =>
    child.once("error", (error) =>
      reject(new Error(`${command} could not be started (${error.message}); install it with npm run setup`)),
    ),
  );
  await Promise.race([waitListening(host, port, child, 15_000), failed]);
  logger.info(
    { server: name, pid: child.pid, address: `${host}:${port}` },
    `started a local ${name} for development`,
  );
  return {
    name,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once("exit", () => done());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      }),
  };
}

/** nats-server with JetStream, its data under `<dataDir>/nats`. */
export function startLocalNats(url: URL, dataDir: string, logger: Logger): Promise<LocalServer> {
  const dir = resolve(join(dataDir, "nats"));
  mkdirSync(dir, { recursive: true });
  const port = Number(url.port || 4222);
  return startOne(
    "nats-server",
    "nats-server",
    ["-js", "-a", url.hostname, "-p", String(port), "-sd", dir],
    url.hostname,
    port,
    logger,
  );
}

/** redis-server; bullmq keeps its queues here, so it writes an append-only file under `<dataDir>/redis`. */
export function startLocalRedis(url: URL, dataDir: string, logger: Logger): Promise<LocalServer> {
  const dir = resolve(join(dataDir, "redis"));
  mkdirSync(dir, { recursive: true });
  const port = Number(url.port || 6379);
  return startOne(
    "redis-server",
    "redis-server",
    ["--bind", url.hostname, "--port", String(port), "--dir", dir, "--appendonly", "yes", "--save", ""],
    url.hostname,
    port,
    logger,
  );
}
