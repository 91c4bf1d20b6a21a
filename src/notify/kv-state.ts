import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";

export async function openNotifyBucket(
  js: JetStreamClient,
  options: { bucket: string; replicas: number; maxAgeMs: number },
): Promise<KV> {
  // state older than maxAge is only consulted for transitions of long-idle lanes; let it expire
  return new Kvm(js).create(options.bucket, {
    history: 1,
    replicas: options.replicas,
    ttl: options.maxAgeMs,
  });
}

export interface Stored<T> {
  readonly value: T;
  readonly revision: number;
}

/** Values are JSON written by this module only, so a parse is enough (no schema round trip). */
export async function readJson<T>(kv: KV, key: string): Promise<Stored<T> | null> {
  const entry = await kv.get(key);
  if (entry === null || entry.operation !== "PUT" || entry.length === 0) return null;
  return { value: entry.json<T>(), revision: entry.revision };
}

const isConflict = (error: unknown): boolean =>
  error instanceof JetStreamApiError &&
  (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
    error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

export type Update<T, R> = (current: T | null) => { readonly next: T | null; readonly result: R };

/**
 * Read-modify-write with compare-and-set: `update` is pure and may run several times when
 * another replica or job wrote in between. `next: null` means "nothing to write".
 */
export async function casUpdate<T, R>(kv: KV, key: string, update: Update<T, R>, maxTries = 50): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    const current = await readJson<T>(kv, key);
    const { next, result } = update(current?.value ?? null);
    if (next === null) return result;
    const payload = JSON.stringify(next);
    try {
      if (current === null) await kv.create(key, payload);
      else await kv.update(key, payload, current.revision);
      return result;
    } catch (error) {
      if (!isConflict(error) || attempt >= maxTries) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
