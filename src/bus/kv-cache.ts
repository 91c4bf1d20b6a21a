/** A KV value as last seen at one revision. */
export interface CachedEntry<T> {
  readonly revision: number;
  /** parsed, and never changed in place: readers share it */
  readonly value: T;
}

/**
 * The newest revision of KV values this process wrote or watched, parsed. Compare-and-set
 * starts from it instead of reading the key again (a branch list is 40 KB of JSON at 50 runs),
 * and the status view takes the value it was about to parse from it when the watch brings
 * back a write this process made. A stale entry costs one failed write: the revision it names
 * is no longer the last, so the update is refused and compare-and-set reads the key.
 * With `limit`, the least recently used keys go first.
 */
export class EntryCache<T> {
  readonly #entries = new Map<string, CachedEntry<T>>();
  /** writes on their way, by key: the watch often brings one back before its answer */
  readonly #writing = new Map<string, { readonly bytes: Uint8Array; readonly value: T }>();
  readonly #limit: number;

  constructor(limit = Number.POSITIVE_INFINITY) {
    this.#limit = limit;
  }

  get(key: string): CachedEntry<T> | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined && this.#limit !== Number.POSITIVE_INFINITY) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** Keeps `value` unless a newer revision of the key is already known. */
  remember(key: string, revision: number, value: T): void {
    const known = this.#entries.get(key);
    if (known !== undefined && known.revision > revision) return;
    this.#entries.delete(key);
    this.#entries.set(key, { revision, value });
    if (this.#entries.size > this.#limit) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  /** Drops the key, unless what is known is newer than `revision` (when given). */
  forget(key: string, revision = Number.POSITIVE_INFINITY): void {
    const known = this.#entries.get(key);
    if (known !== undefined && known.revision <= revision) this.#entries.delete(key);
  }

  /** `value`, serialized as `bytes`, is being written to `key` (until `written`). */
  writing(key: string, bytes: Uint8Array, value: T): void {
    this.#writing.set(key, { bytes, value });
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
}
