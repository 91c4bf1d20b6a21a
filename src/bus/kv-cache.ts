import type { NatsConnection } from "@nats-io/nats-core";

/** A KV value as last seen at one revision. */
export interface CachedEntry<T> {
  readonly revision: number;
  /** parsed, and never changed in place: readers share it */
  readonly value: T;
  /** size of the value as stored (JSON bytes), what the byte budget counts */
  readonly bytes: number;
}

export interface CacheLimits {
  /** keys kept at most */
  readonly entries?: number;
  /** stored bytes kept at most; a value larger than this is not kept at all */
  readonly bytes?: number;
}

/**
 * Outside production every cached value is deep-frozen: the store, the view and the API share
 * these objects, so a change in place anywhere throws in tests instead of corrupting what
 * another reader sees. In production the walk is skipped (readonly types guard it there).
 */
const FREEZE = process.env.NODE_ENV !== "production";

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * The newest revision of KV values this process wrote or watched, parsed. Compare-and-set
 * starts from it instead of reading the key again (a branch list is 40 KB of JSON at 50 runs),
 * and the status view takes the value it was about to parse from it when the watch brings
 * back a write this process made. A stale entry costs one failed write: the revision it names
 * is no longer the last, so the update is refused and compare-and-set reads the key.
 * With limits, the least recently used keys go first.
 */
export class EntryCache<T> {
  readonly #entries = new Map<string, CachedEntry<T>>();
  /** writes on their way, by key: the watch often brings one back before its answer */
  readonly #writing = new Map<string, { readonly bytes: Uint8Array; readonly value: T }>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  /** whether anything is ever evicted (else the order of keys does not matter) */
  readonly #limited: boolean;
  #bytes = 0;

  constructor({ entries = Number.POSITIVE_INFINITY, bytes = Number.POSITIVE_INFINITY }: CacheLimits = {}) {
    this.#maxEntries = entries;
    this.#maxBytes = bytes;
    this.#limited = Number.isFinite(entries) || Number.isFinite(bytes);
  }

  get(key: string): CachedEntry<T> | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined && this.#limited) {
      // most recently used last
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** Keeps `value` (`bytes` long as stored) unless a newer revision of the key is already known. */
  remember(key: string, revision: number, value: T, bytes: number): void {
    const known = this.#entries.get(key);
    if (known !== undefined && known.revision > revision) return;
    this.#drop(key);
    if (bytes > this.#maxBytes) return;
    this.#entries.set(key, { revision, value: FREEZE ? deepFreeze(value) : value, bytes });
    this.#bytes += bytes;
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#drop(oldest.value);
    }
  }

  /** Drops the key, unless what is known is newer than `revision` (when given). */
  forget(key: string, revision = Number.POSITIVE_INFINITY): void {
    const known = this.#entries.get(key);
    if (known !== undefined && known.revision <= revision) this.#drop(key);
  }

  /** Forgets every key (writes on their way stay: their answers are still to come). */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** `value`, serialized as `bytes`, is being written to `key` (until `written`). */
  writing(key: string, bytes: Uint8Array, value: T): void {
    this.#writing.set(key, { bytes, value: FREEZE ? deepFreeze(value) : value });
  }

  written(key: string, bytes: Uint8Array): void {
    if (this.#writing.get(key)?.bytes === bytes) this.#writing.delete(key);
  }

  /**
   * The value being written to `key` if `stored` is byte for byte its serialization: what
   * parsing `stored` would give, whoever wrote it.
   */
  beingWritten(key: string, stored: Uint8Array): T | undefined {
    const pending = this.#writing.get(key);
    return pending !== undefined && Buffer.compare(pending.bytes, stored) === 0 ? pending.value : undefined;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** stored bytes of the values kept */
  get bytes(): number {
    return this.#bytes;
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}

/**
 * Empties the caches whenever the connection comes back: the server may have restarted
 * without its data, or the bucket may have been recreated, and a revision would then name
 * some other value. Ends when the connection closes.
 */
export function clearOnReconnect(nc: NatsConnection, caches: ReadonlyArray<{ clear(): void }>): void {
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "reconnect") for (const cache of caches) cache.clear();
    }
  })();
}
