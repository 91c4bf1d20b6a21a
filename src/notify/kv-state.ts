import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { compareAndSet, type CasOptions } from "../bus/kv-cas.ts";
import { applyMaxAge } from "../bus/max-age.ts";
import type { Logger } from "../observability/logger.ts";

/**
 * Opens (or creates) the notify bucket with `maxAgeMs` as its max age, on every start: an
 * existing bucket keeps the age it was created with otherwise, and one created while events
 * were kept for ever (maxAge 0) would hold every run's state for ever after maxAge is set.
 */
export async function openNotifyBucket(
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: { bucket: string; replicas: number; maxAgeMs: number },
  logger: Logger,
): Promise<KV> {
  // state older than maxAge is only consulted for transitions of long-idle lanes; let it expire
  const kv = await new Kvm(js).create(options.bucket, {
    history: 1,
    replicas: options.replicas,
    ttl: options.maxAgeMs,
  });
  await applyMaxAge(jsm, `KV_${options.bucket}`, options.maxAgeMs, logger);
  return kv;
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

export type Update<T, R> = (current: T | null) => { readonly next: T | null; readonly result: R };

/**
 * Read-modify-write with compare-and-set: `update` is pure and may run several times when
 * another replica or job wrote in between; the result of the run that was written (or found
 * nothing to write) is returned. `next: null` means "nothing to write".
 */
export async function casUpdate<T, R>(
  kv: KV,
  key: string,
  update: Update<T, R>,
  options: CasOptions<T> = {},
): Promise<R> {
  const last: { step?: ReturnType<Update<T, R>> } = {};
  await compareAndSet<T>(
    kv,
    key,
    (current) => {
      last.step = update(current);
      return last.step.next ?? current;
    },
    options,
  );
  if (last.step === undefined) throw new Error(`compare-and-set on ${key} answered without deciding`);
  return last.step.result;
}
