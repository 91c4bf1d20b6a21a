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
    if (child.exitCode !== null) throw new Error(`it exited with code ${child.exitCode}`);
    if (child.signalCode !== null) throw new Error(`it was killed by ${child.signalCode}`);
    if (await isListening(host, port, 200)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`it did not listen on ${host}:${port} within ${timeoutMs} ms`);
}

export interface LocalServer {
  readonly name: string;
  stop(): Promise<void>;
}

interface Spawned {
  readonly child: ChildProcess;
  /** resolves once the process has exited and its output is read to the end */
  readonly closed: Promise<void>;
  /** what the server said about its failure (nats-server logs to stderr, redis-server to stdout) */
  readonly lastWords: () => string[];
}

const TROUBLE = /\[(FTL|ERR)\]|#\s*(warning|failed)|\b(error|fatal|failed|cannot|could not|denied)\b/i;

/** "[pid] 2026/01/02 03:04:05.678901 " (nats-server), "pid:M 02 Jan 2026 03:04:05.678 " (redis-server) */
const LOG_PREFIX = /^\s*(\[\d+\] \d{4}\/\d\d\/\d\d [\d:.]+ |\d+:[A-Z] \d+ \w+ \d{4} [\d:.]+ )/;

function spawnServer(command: string, args: string[], logger: Logger): Spawned {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const collect = (chunk: Buffer): void => {
    for (const raw of chunk.toString().split("\n")) {
      const line = raw.replace(LOG_PREFIX, "").trim();
      if (line === "") continue;
      logger.debug({ server: command, line }, "server output");
      lines.push(line);
      if (lines.length > 100) lines.shift();
    }
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const lastWords = (): string[] => {
    const trouble = lines.filter((line) => TROUBLE.test(line));
    return (trouble.length > 0 ? trouble : lines).slice(-3);
  };
  return { child, closed, lastWords };
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once("exit", () => done());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  });
}

async function startOne(
  name: string,
  command: string,
  args: string[],
  host: string,
  port: number,
  logger: Logger,
): Promise<LocalServer> {
  const { child, closed, lastWords } = spawnServer(command, args, logger);
  // an exit that skips stop() (a signal while the gateway starts, the shutdown grace exceeded,
  // an uncaught error) must not leave the server running, even one still starting: it would
  // hold its port and data, and the next start would adopt it
  const stopOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  process.once("exit", stopOnExit);
  const failed = new Promise<never>((_, reject) =>
    child.once("error", (error) => reject(new Error(`${command} could not be run (${error.message})`))),
  );
  try {
    await Promise.race([waitListening(host, port, child, 15_000), failed]);
  } catch (error) {
    // a server that never came up must not linger (it may still be starting, or hung)
    process.removeListener("exit", stopOnExit);
    await stopChild(child);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
    const said = lastWords();
    throw new Error(
      `a local ${name} on ${host}:${port} failed to start: ${(error as Error).message}` +
        (said.length > 0 ? ` (it said: ${said.join(" | ")})` : ""),
      { cause: error },
    );
  }
  logger.info(
    { server: name, pid: child.pid, address: `${host}:${port}` },
    `started a local ${name} for development`,
  );
  return {
    name,
    stop: () => {
      process.removeListener("exit", stopOnExit);
      return stopChild(child);
    },
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
