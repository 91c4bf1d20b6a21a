import type { Job, JobsOptions, Worker, WorkerOptions } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../config/schema.ts";
import { onceEvery } from "../observability/throttle.ts";
import type { ChannelName } from "./keys.ts";

export const QUEUE_NAMES: Record<ChannelName, string> = { slack: "notify-slack", email: "notify-email" };

type ErrorListener = (error: Error) => void;

/** bullmq workers block on their connection, so it must never give up on a request (maxRetriesPerRequest: null). */
export function redisConnection(url: string, onError: ErrorListener): Redis {
  return new Redis(url, { maxRetriesPerRequest: null }).on("error", onError);
}

/**
 * For Queue.add from a JetStream handler: fail at once while Redis is unreachable, so the
 * handler throws and the message waits on the stream (nak with backoff) instead of hanging.
 */
export function producerConnection(url: string, onError: ErrorListener): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }).on("error", onError);
}

/** What a first connection to Redis found. */
export type RedisProbe =
  | { readonly outcome: "ready" }
  /** Redis refused the credentials or the TLS setup: a mistake in the configuration, which waiting will not cure */
  | { readonly outcome: "refused"; readonly reason: string; readonly tls: boolean }
  /** nothing answered (refused, reset, timed out, not resolvable): an outage */
  | { readonly outcome: "unreachable"; readonly reason: string };

/**
 * Node's codes for a TLS handshake that failed on the certificate or the protocol (the
 * server's certificate not trusted, expired or for another name; a server that is not TLS):
 * the server is there, and trying again will not change its answer.
 */
/**
 * Redis's replies that refuse these credentials (NOAUTH, WRONGPASS, NOPERM, and the ERR of a
 * password given to a Redis that has none). Its other error replies pass: LOADING after a
 * restart, BUSY under a long script, max clients reached, MASTERDOWN.
 */
const REDIS_REFUSAL = /^(NOAUTH|WRONGPASS|NOPERM)\b|^ERR\b.*\b(AUTH|password)\b/i;

const TLS_REFUSAL = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|^ERR_TLS_|^ERR_SSL_/;

/**
 * One connection attempt and a PING. Redis's own refusals (WRONGPASS, NOAUTH, NOPERM: its
 * reply never holds the password) and TLS certificate errors are "refused"; anything else
 * (LOADING, BUSY, a refused connection) is "unreachable". `signal` ends the attempt at once
 * (shutdown must not wait for it).
 */
export async function probeRedis(url: string, signal?: AbortSignal): Promise<RedisProbe> {
  const check = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5000,
  });
  let first: Error | null = null;
  check.on("error", (error: Error) => {
    first ??= error;
  });
  const abort = (): void => check.disconnect();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    await check.connect();
    await check.ping();
    return { outcome: "ready" };
  } catch (error) {
    // the reason came through the error listener; the rejection only says "Connection is closed"
    const cause: Error = first ?? (error as Error);
    const code = (cause as NodeJS.ErrnoException).code ?? "";
    if (cause.name === "ReplyError" && REDIS_REFUSAL.test(cause.message))
      return { outcome: "refused", reason: cause.message.replace(/\.$/, ""), tls: false };
    if (TLS_REFUSAL.test(code))
      return { outcome: "refused", reason: `${cause.message} (${code})`, tls: true };
    return { outcome: "unreachable", reason: cause.message };
  } finally {
    signal?.removeEventListener("abort", abort);
    check.disconnect();
  }
}

/** What to check when Redis refused this gateway (for the error that says so). */
export function redisRefusalHint(refusal: { readonly tls: boolean }): string {
  return refusal.tls
    ? "check that REDIS_URL (or redis.url) uses rediss:// only for a TLS port and that Node trusts the server's certificate (NODE_EXTRA_CA_CERTS for a private CA)"
    : "check the user and password in REDIS_URL (or redis.url)";
}

/**
 * ioredis reports every failed reconnect; one line per interval says Redis is away without
 * flooding the log (and an unhandled "error" event would print raw stack traces).
 */
export function throttledErrorLog(warn: (error: Error) => void, intervalMs = 30_000): ErrorListener {
  const gate = onceEvery(intervalMs);
  return (error) => {
    if (gate()) warn(error);
  };
}

const DAY_SECONDS = 86_400;

/**
 * Retries with exponential backoff and jitter; failed jobs stay in the failed set (the
 * dead letters) until an operator retries them. Completed e-mail jobs are kept a week so
 * that re-adding a notice's job id stays a no-op.
 */
export function jobOptions(channel: ChannelName, delivery: Config["notify"]["delivery"]): JobsOptions {
  return {
    attempts: delivery.attempts,
    backoff: { type: "exponential", delay: delivery.backoff, jitter: 0.5 },
    removeOnComplete: channel === "email" ? { age: 7 * DAY_SECONDS, count: 100_000 } : { count: 1000 },
    removeOnFail: false,
  };
}

/**
 * How often a worker runs bullmq's stalled-job check, which hands back the deliveries of a
 * worker that died without handing them back itself (SIGKILL, an OOM kill, a shutdown during
 * a Redis outage): a job goes back to wait at the first check that finds its lock gone after
 * an earlier one saw it active. bullmq's 30 s made that up to a minute after the lock
 * expired; every 5 s it is within 10 s. What counts as stalled is unchanged: only a lock that
 * expired (lockDuration, 30 s, renewed at least every 15 s by a live worker), so no live
 * replica's delivery is taken. A check is one script, and while another worker's ran within
 * the interval it returns at once.
 */
const STALLED_CHECK_INTERVAL_MS = 5000;

/**
 * The stalled-job options of both channels' workers. A delivery handed back that way counts
 * against `notify.delivery.attempts` like one that failed: bullmq's default (maxStalledCount
 * 1) made a delivery whose worker died twice a dead letter, so two replicas killed in a row
 * (OOM kills under load) lost the notices they were delivering. Nothing is sent twice for it:
 * a Slack delivery taken up again finds what the dead one posted by its claim.
 */
export function stalledJobOptions(
  delivery: Config["notify"]["delivery"],
): Pick<WorkerOptions, "stalledInterval" | "maxStalledCount"> {
  return { stalledInterval: STALLED_CHECK_INTERVAL_MS, maxStalledCount: delivery.attempts };
}

/** The deliveries a channel's worker has in hand, each with the lock token that can hand it back. */
export class HeldJobs {
  readonly #jobs = new Map<string, { readonly job: Job; readonly token: string | undefined }>();

  /** Runs a delivery (a worker's processor), held while it runs. */
  async run<T>(job: Job, token: string | undefined, deliver: () => Promise<T>): Promise<T> {
    const id = job.id;
    if (id === undefined) return deliver();
    this.#jobs.set(id, { job, token });
    try {
      return await deliver();
    } finally {
      this.#jobs.delete(id);
    }
  }

  /** Whether `job` is still held here: running, and not handed back by handBack. */
  holds(job: Job): boolean {
    return job.id !== undefined && this.#jobs.has(job.id);
  }

  /** Hands every held delivery back to wait, its attempt not spent; none is held after. */
  async handBack(): Promise<void> {
    const left = [...this.#jobs.values()];
    this.#jobs.clear();
    await Promise.all(left.map(({ job, token }) => job.moveToWait(token).catch(() => undefined)));
  }
}

/** How a shutdown finds Redis: away already, and a promise that resolves once it is away. */
export interface RedisAtShutdown {
  readonly down: boolean;
  readonly gone: Promise<void>;
}

/**
 * Stops a channel's worker: it takes no more jobs and lets the running ones finish (a channel
 * stops its own at their next call) until `deadline`. Any still running then is handed back
 * to wait, its attempt not spent, rather than left active when the process exits: bullmq
 * would give it to another worker only once its 30 s lock expired and a stalled-job check
 * found it. Its own run ends with the process; a delivery that picks it up finds what that
 * run did (Slack: the post's claim). With Redis away, or once it goes away, nothing is waited
 * for: no job could be recorded as done or handed back, and each such call waits for Redis
 * forever (the jobs left active are the stalled-job check's).
 */
export async function closeWorker(
  worker: Worker | undefined,
  held: HeldJobs,
  redis: RedisAtShutdown,
  deadline: number,
): Promise<void> {
  if (worker === undefined) return;
  if (redis.down) return worker.close(true);
  const gone = redis.gone.then(() => "gone" as const);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    if (deadline !== Infinity) timer = setTimeout(() => resolve("late"), Math.max(0, deadline - Date.now()));
  });
  const outcome = await Promise.race([worker.close().then(() => "closed" as const), gone, late]);
  clearTimeout(timer);
  if (outcome !== "late") return;
  await Promise.race([gone, held.handBack()]);
}
