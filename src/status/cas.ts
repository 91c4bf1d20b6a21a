import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";

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

const isConflict = (error: unknown): boolean =>
  error instanceof JetStreamApiError &&
  (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
    error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/**
 * Read, change, write only if nobody wrote in between (the write names the revision it read),
 * else read again. `change` is pure and returns its input itself when nothing changes, so an
 * unchanged value costs no write. Two replicas racing on one key never lose an update.
 */
export async function compareAndSet<T>(
  kv: KV,
  key: string,
  change: (current: T | null) => T | null,
  maxAttempts = 50,
): Promise<CasResult<T>> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const entry = await kv.get(key);
    const current = entry && entry.operation === "PUT" ? entry.json<T>() : null;
    const next = change(current);
    if (next === current) {
      return {
        value: current,
        previous: current,
        revision: current === null ? 0 : (entry?.revision ?? 0),
        written: false,
      };
    }
    try {
      const body = JSON.stringify(next);
      const revision = entry ? await kv.update(key, body, entry.revision) : await kv.create(key, body);
      return { value: next, previous: current, revision, written: true };
    } catch (error) {
      if (!isConflict(error)) throw error;
      // another writer got there first: a short random pause spreads out the retries
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, attempt * 5)));
    }
  }
  throw new CasConflictError(key, maxAttempts);
}
