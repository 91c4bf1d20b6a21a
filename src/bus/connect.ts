import { connect, type NatsConnection } from "@nats-io/transport-node";
import "./nats-request-fix.ts";
import "./nats-connect-fix.ts";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { isCredentialParam, type Logger } from "../observability/logger.ts";

export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** true while the connection to NATS is up */
  connected(): boolean;
  /** runs after every reconnect (re-create streams a restarted server lost, …) */
  onReconnect(listener: () => void): void;
  /** runs each time the connection is lost */
  onDisconnect(listener: () => void): void;
  close(): Promise<void>;
}

/**
 * Shown without credentials: NATS URLs may carry user:password, Redis URLs ?password= too.
 * Lists are redacted item by item.
 */
export function redactUrl(url: string): string {
  if (url.includes(","))
    return url
      .split(",")
      .map((part) => redactUrl(part.trim()))
      .join(",");
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    if (parsed.username) parsed.username = "***";
    for (const name of new Set(parsed.searchParams.keys())) {
      if (isCredentialParam(name)) parsed.searchParams.set(name, "***");
    }
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}

export interface NatsServers {
  readonly servers: string[];
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
}

/**
 * The servers of a NATS URL (list) and the credentials written into it. nats.js does not read
 * `user:password@` or `token@` from a server URL, and would connect without them: they are
 * taken out of the URLs and given as connection options, the first URL that has some wins.
 */
export function natsServers(url: string): NatsServers {
  let credentials: Omit<NatsServers, "servers"> = {};
  const servers = url.split(",").map((part) => {
    const server = part.trim();
    let parsed: URL;
    try {
      parsed = new URL(server);
    } catch {
      return server;
    }
    if (parsed.username === "" && parsed.password === "") return server;
    if (Object.keys(credentials).length === 0) {
      const user = decodeURIComponent(parsed.username);
      credentials =
        parsed.password === "" ? { token: user } : { user, pass: decodeURIComponent(parsed.password) };
    }
    parsed.username = "";
    parsed.password = "";
    return parsed.toString().replace(/\/$/, "");
  });
  return { servers, ...credentials };
}

/**
 * Connects to NATS and keeps reconnecting forever after the first success: an outage is
 * ridden out by the spool, not by restarting the process.
 */
export async function connectBus(url: string, logger: Logger, name = "buildcast"): Promise<Bus> {
  const nc = await connect({
    ...natsServers(url),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    pingInterval: 10_000,
    timeout: 5000,
    // Otherwise every request (each JetStream publish) builds two Error objects up front just
    // in case it fails, capturing a stack each time: a fifth of the ingress CPU at load. A
    // failed publish is still reported with its message; only its async stack is shorter.
    noAsyncTraces: true,
  });
  let up = true;
  const listeners: Array<() => void> = [];
  const disconnectListeners: Array<() => void> = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        up = false;
        logger.warn({ nats: redactUrl(url) }, "disconnected from NATS; reconnecting");
        for (const listener of disconnectListeners) listener();
      } else if (status.type === "reconnect") {
        up = true;
        logger.info({ nats: redactUrl(url) }, "reconnected to NATS");
        for (const listener of listeners) listener();
      }
    }
  })();
  const js = jetstream(nc);
  // a server without JetStream: close, or each retry of a background start would leave one open
  const jsm = await jetstreamManager(nc).catch(async (error: unknown) => {
    await nc.close();
    throw error;
  });
  return {
    nc,
    js,
    jsm,
    connected: () => up && !nc.isClosed(),
    onReconnect: (listener) => listeners.push(listener),
    onDisconnect: (listener) => disconnectListeners.push(listener),
    close: async () => {
      if (nc.isClosed()) return;
      // drain flushes what is pending, but waits for a server: while disconnected, just close
      if (up) {
        const drained = nc.drain().catch(() => undefined);
        await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      }
      if (!nc.isClosed()) await nc.close();
    },
  };
}
