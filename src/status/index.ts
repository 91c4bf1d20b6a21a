import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Router } from "express";
import { startConsumer, type RunningConsumer } from "../bus/consume.ts";
import { DEFAULT_MAX_PAYLOAD } from "../bus/publisher.ts";
import { STATUS_CONSUMER } from "../bus/consumers.ts";
import type { Config, Secrets } from "../config/schema.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { clearOnReconnect, EntryCache } from "../bus/kv-cache.ts";
import { runLocator } from "./locate-run.ts";
import type { BranchState, RunState } from "./model.ts";
import { createStatusRouter } from "./router.ts";
import { createSseHub } from "./sse.ts";
import { applyEventsToStore } from "./store.ts";
import { startRetention, type RunningRetention } from "./retention.ts";
import { EMPTY_VIEW, startView, type RunningView, type StatusView } from "./view.ts";

/**
 * Run records kept parsed for the next event of the same run (a run's job events come
 * together): most are 1-5 KB of JSON, a pipeline of hundreds of jobs some 100 KB, so the
 * bytes are bounded too. Branch lists are all kept: the view holds them anyway.
 */
const RUNS_CACHED = { entries: 1000, bytes: 4 * 1024 * 1024 };

export interface StatusServiceDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly config: Config;
  readonly secrets: Secrets;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** SSE ping event; proxies close idle streams after 30–60 s, and pages reconnect after 3 missed */
  readonly heartbeatMs?: number;
  /** run the consumer (false: a read-only replica that only serves the API) */
  readonly consume?: boolean;
  /** whether NATS is reachable: while it is not, the live feed tells pages their rows are stale */
  readonly storeConnected?: () => boolean;
}

export interface StatusService {
  /** GET /, /dashboard.js, /badge.svg, /api/v1/status, /api/v1/runs, /api/v1/runs/:provider/:runId, /api/v1/events */
  readonly router: Router;
  /** opens the KV bucket, loads the view, starts the consumer; the router answers 503 until then */
  start(): Promise<void>;
  /**
   * Ends the dashboards' live streams. They never end on their own, so a server closing for
   * shutdown would wait for them for ever: call this right after `server.close()`.
   */
  endLiveFeeds(): void;
  /** ends live streams, stops the consumer (the message in hand finishes) and the watch */
  stop(): Promise<void>;
}

export async function openStatusBucket(nc: NatsConnection, config: Config["status"]): Promise<KV> {
  // a new bucket starts with its max age; an existing one gets it from startRetention
  return new Kvm(nc).create(config.bucket, {
    history: config.history,
    replicas: config.replicas,
    ...(config.retention > 0 ? { ttl: config.retention } : {}),
  });
}

export function createStatusService(deps: StatusServiceDeps): StatusService {
  // a KV value is one NATS message: keep a quarter of max_payload for headers and new events
  const maxRunBytes = (): number => Math.floor(((deps.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) * 3) / 4);
  const log = deps.logger.child({ component: "status" });
  let view: RunningView | null = null;
  let kv: KV | null = null;
  let consumer: RunningConsumer | null = null;
  let retention: RunningRetention | null = null;

  // the router exists before start() so the app can mount it; until then it reads an empty view
  const emptyView = EMPTY_VIEW;
  const liveView: StatusView = {
    states: () => (view ?? emptyView).states(),
    forRepository: (name) => (view ?? emptyView).forRepository(name),
    revision: () => (view ?? emptyView).revision(),
    changedSince: (rev) => (view ?? emptyView).changedSince(rev),
    subscribe: (listener) => (view ?? emptyView).subscribe(listener),
  };
  const sse = createSseHub(liveView, {
    heartbeatMs: deps.heartbeatMs ?? 15_000,
    ...(deps.storeConnected ? { storeConnected: deps.storeConnected } : {}),
  });
  const router = createStatusRouter({
    view: liveView,
    sse,
    apiToken: deps.secrets.apiToken,
    authRateLimit: deps.config.server.authRateLimit,
    ready: () => view !== null,
    locateRun: (provider, runId) =>
      kv
        ? runLocator(kv, liveView, { jsm: deps.jsm, bucket: deps.config.status.bucket })(provider, runId)
        : Promise.resolve(null),
    logger: log,
  });
  const start = async (): Promise<void> => {
    const bucket = await openStatusBucket(deps.nc, deps.config.status);
    kv = bucket;
    const caches = {
      branches: new EntryCache<BranchState>(),
      runs: new EntryCache<RunState>(RUNS_CACHED),
    };
    clearOnReconnect(deps.nc, [caches.branches, caches.runs]);
    const { status } = deps.config;
    view = await startView(bucket, log, { cache: caches.branches });
    const lists = deps.metrics?.statusBranchLists;
    if (lists) {
      const running = view;
      lists.set(running.size());
      running.subscribe(() => lists.set(running.size()));
    }
    if (deps.consume !== false) {
      // replicas that write the store also keep its retention (any number of them may)
      retention = await startRetention({
        kv: bucket,
        jsm: deps.jsm,
        stream: `KV_${status.bucket}`,
        retentionMs: status.retention,
        keepBranches: status.keepBranches,
        logger: log,
      });
      await view.forgetExpired();
      consumer = await startConsumer({
        js: deps.js,
        jsm: deps.jsm,
        stream: deps.config.nats.stream.name,
        durable: STATUS_CONSUMER,
        maxDeliver: deps.config.nats.consumer.maxDeliver,
        ackWaitMs: deps.config.nats.consumer.ackWait,
        logger: log,
        ...(deps.metrics ? { metrics: deps.metrics } : {}),
        handleBatch: async (events) => {
          const results = await applyEventsToStore(
            {
              kv: bucket,
              runsPerBranch: deps.config.status.runsPerBranch,
              caches,
              maxRunBytes: maxRunBytes(),
            },
            events,
          );
          for (const { runKey, leftOut } of results) {
            if (leftOut === undefined) continue;
            log.warn(
              { runKey, ...leftOut, maxRunBytes: maxRunBytes() },
              "run has too many jobs for one NATS message; its record leaves finished passing jobs out first and counts them",
            );
          }
          log.debug({ eventIds: events.map((event) => event.id), results }, "status applied");
        },
      });
    }
    log.info(
      { bucket: deps.config.status.bucket, consumer: consumer ? STATUS_CONSUMER : null },
      "status store started",
    );
  };

  return {
    router,
    async start() {
      try {
        await start();
      } catch (error) {
        // undo what did start, live feeds aside, so start() can be tried again (a gateway that
        // reached NATS only after it started retries it; stop() would end the live feeds for good)
        await consumer?.stop().catch(() => undefined);
        consumer = null;
        await retention?.stop().catch(() => undefined);
        retention = null;
        await view?.stop().catch(() => undefined);
        view = null;
        kv = null;
        throw error;
      }
    },
    endLiveFeeds() {
      sse.close();
    },
    async stop() {
      sse.close();
      await consumer?.stop();
      consumer = null;
      await retention?.stop();
      retention = null;
      await view?.stop();
    },
  };
}
