import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A free TCP port on loopback, chosen by the kernel. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline)
      throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface TestServer {
  readonly port: number;
  readonly url: string;
  /** Stops the process (SIGTERM, or SIGKILL when `hard`), keeping its data directory. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops it and removes its data. */
  dispose(): Promise<void>;
  /** the server process's id while it runs (the benchmark reads its CPU time) */
  pid(): number | undefined;
}

async function stopProcess(child: ChildProcess | undefined, hard: boolean): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill(hard ? "SIGKILL" : "SIGTERM");
  });
}

async function startManaged(
  name: string,
  command: string,
  args: (port: number, dir: string) => string[],
  scheme: string,
  port?: number,
): Promise<TestServer> {
  const chosenPort = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), `buildcast-${name}-`));
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(command, args(chosenPort, dir), { stdio: "ignore" });
    child.on("error", (error) => {
      throw new Error(`could not start ${command}: ${error.message}`);
    });
    await waitForPort(chosenPort);
  };
  await start();
  const server: TestServer = {
    port: chosenPort,
    url: `${scheme}://127.0.0.1:${chosenPort}`,
    stop: (hard = false) => stopProcess(child, hard),
    restart: async () => {
      await stopProcess(child, false);
      await start();
    },
    dispose: async () => {
      await stopProcess(child, true);
      rmSync(dir, { recursive: true, force: true });
    },
    pid: () => child?.pid,
  };
  return server;
}

/**
 * A private nats-server with JetStream, on its own port and data directory; `args` adds
 * options such as `--user`/`--pass` or `--auth`.
 */
export function startNats(port?: number, options: { args?: readonly string[] } = {}): Promise<TestServer> {
  return startManaged(
    "nats",
    "nats-server",
    (p, dir) => ["-a", "127.0.0.1", "-p", String(p), "-js", "-sd", dir, ...(options.args ?? [])],
    "nats",
    port,
  );
}

/**
 * A private redis-server that keeps nothing on disk, or, with `appendOnly`, an AOF in its
 * data directory (as operations.md asks of production) so queued jobs survive a restart.
 */
export function startRedis(
  port?: number,
  options: { appendOnly?: boolean; args?: readonly string[] } = {},
): Promise<TestServer> {
  return startManaged(
    "redis",
    "redis-server",
    (p, dir) => [
      "--bind",
      "127.0.0.1",
      "--port",
      String(p),
      "--save",
      "",
      "--appendonly",
      options.appendOnly ? "yes" : "no",
      "--dir",
      dir,
      ...(options.args ?? []),
    ],
    "redis",
    port,
  );
}

export interface TestCluster {
  readonly nodes: readonly TestServer[];
  /** all client URLs, comma-separated (NATS_URL for a cluster) */
  readonly url: string;
  dispose(): Promise<void>;
}

/**
 * A JetStream cluster of `size` nats-server processes on loopback, each with its own data
 * directory, client port and route port. Resolves once JetStream has a meta leader.
 */
export async function startNatsCluster(size = 3): Promise<TestCluster> {
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const routes = routePorts.map((port) => `nats-route://127.0.0.1:${port}`).join(",");
  const nodes = await Promise.all(
    clientPorts.map((clientPort, i) =>
      startManaged(
        `nats-n${i + 1}`,
        "nats-server",
        (p, dir) => [
          "-a",
          "127.0.0.1",
          "-p",
          String(p),
          "-js",
          "-sd",
          dir,
          "--server_name",
          `n${i + 1}`,
          "--cluster_name",
          "buildcast-test",
          "--cluster",
          `nats://127.0.0.1:${routePorts[i]}`,
          "--routes",
          routes,
        ],
        "nats",
        clientPort,
      ),
    ),
  );
  const url = nodes.map((node) => node.url).join(",");
  const { connect } = await import("@nats-io/transport-node");
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const nc = await connect({ servers: nodes.map((node) => node.url) });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.getAccountInfo();
        break;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`JetStream cluster did not elect a leader: ${String(error)}`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await nc.close();
  }
  return {
    nodes,
    url,
    dispose: async () => {
      await Promise.all(nodes.map((node) => node.dispose()));
    },
  };
}
