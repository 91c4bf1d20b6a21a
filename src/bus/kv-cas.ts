import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { EntryCache } from "./kv-cache.ts";

export interface CasResult<T> {
  /** the value now stored (null when the key holds nothing and nothing was written) */
  readonly value: T | null;
  /** the value read before this write committed */
  readonly previous: T | null;
  /** revision of `value`; 0 when the key holds nothing */
  readonly revision: number;
  readonly written: boolean;
}

export class CasConflictError extends Error {
  constructor(key: string, attempts: number) {
    super(`compare-and-set on ${key} lost ${attempts} races in a row`);
    this.name = "CasConflictError";
  }
}

const utf8 = new TextEncoder();

/** JetStream refused a write because the key changed since the revision it named. */
export const isConflict = (error: unknown): boolean =>
  error instanceof JetStreamApiError &&
  (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
    error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

export interface CasOptions<T> {
  /** start from the value this process last saw instead of reading the key (see EntryCache) */
  readonly cache?: EntryCache<T> | undefined;
  readonly maxAttempts?: number;
  /**
   * A value over `maxBytes` as JSON is handed to `shrink` with its size, and the value it returns
   * written instead: NATS refuses a KV value over max_payload, for ever, whatever is retried.
   */
  readonly fit?: { readonly maxBytes: number; readonly shrink: (value: T, bytes: number) => T };
}

/**
 * Read, change, write only if nobody wrote in between (the write names the revision it read),
 * else read again. `change` is pure and returns its input itself when nothing changes, so an
 * unchanged value costs no write. Two replicas racing on one key never lose an update.
 *
 * With a cache, the first attempt starts from the cached value: no read when it is current.
 * When it is stale the write is refused and the next attempt reads the key; an "unchanged"
 * verdict on a cached value is confirmed by a read before it is answered.
 */
export async function compareAndSet<T>(
  kv: KV,
  key: string,
  change: (current: T | null) => T | null,
  { cache, maxAttempts = 50, fit }: CasOptions<T> = {},
): Promise<CasResult<T>> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const cached = attempt === 1 ? cache?.get(key) : undefined;
    let current: T | null;
    let revision: number | null;
    if (cached) {
      current = cached.value;
      revision = cached.revision;
    } else {
      const entry = await kv.get(key);
      current = entry && entry.operation === "PUT" && entry.length > 0 ? entry.json<T>() : null;
      revision = entry ? entry.revision : null;
      if (entry && current !== null) cache?.remember(key, entry.revision, current, entry.length);
    }
    let next = change(current);
    if (next === current) {
      if (cached) continue;
      return {
        value: current,
        previous: current,
        revision: current === null ? 0 : (revision ?? 0),
        written: false,
      };
    }
    let body = utf8.encode(JSON.stringify(next));
    if (next !== null && fit !== undefined && body.byteLength > fit.maxBytes) {
      const smaller = fit.shrink(next, body.byteLength);
      if (smaller !== next) body = utf8.encode(JSON.stringify((next = smaller)));
    }
    if (next !== null) cache?.writing(key, body, next);
    try {
      const written = revision !== null ? await kv.update(key, body, revision) : await kv.create(key, body);
      // a watcher may have kept this revision already (the status view, as it holds it): keep
      // that copy rather than hold an equal second one
      if (next !== null && cache?.get(key)?.revision !== written) {
        cache?.remember(key, written, next, body.byteLength);
      }
      return { value: next, previous: current, revision: written, written: true };
    } catch (error) {
      if (!isConflict(error)) throw error;
      cache?.forget(key, revision ?? 0);
      // after a stale cached value, read the key at once; after a race lost to another
      // writer, a short random pause spreads out the retries
      if (!cached) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, attempt * 5)));
      }
    } finally {
      cache?.written(key, body);
    }
  }
  throw new CasConflictError(key, maxAttempts);
}
