import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import type { BuildEvent } from "../events/schema.ts";

export class SpoolFullError extends Error {
  constructor(limit: number) {
    super(`the local spool is full (limit ${limit} bytes); JetStream is unreachable — retry later`);
    this.name = "SpoolFullError";
  }
}

/** Why the spool cannot use its directory: startup stops with it (no secret is in either part). */
export class SpoolDirectoryError extends Error {
  constructor(
    readonly dir: string,
    reason: string,
  ) {
    super(reason);
    this.name = "SpoolDirectoryError";
  }
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * `mkdir -p`, without Node's `recursive: true`: that one takes ENOENT for "the parent is
 * missing", makes the parent (EEXIST) and retries forever when the parent exists but holds
 * no such child, as under /proc or a dangling symlink: `BUILDCAST_SPOOL_DIR=/proc/x` hung
 * startup at 100% CPU. Here the second ENOENT is the answer.
 */
function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    const parent = dirname(dir);
    if (code !== "ENOENT" || parent === dir) throw error;
    makeDirectory(parent);
    mkdirSync(dir);
  }
}

/**
 * Makes the spool's directory and checks, at startup, that a file can be written and fsynced
 * in it: otherwise the first webhook taken during a NATS outage would fail instead, the one
 * moment the spool is for.
 */
function prepareDirectory(dir: string): void {
  try {
    makeDirectory(dir);
  } catch (error) {
    throw new SpoolDirectoryError(dir, `cannot create it: ${errorText(error)}`);
  }
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (error) {
    throw new SpoolDirectoryError(dir, `cannot read it: ${errorText(error)}`); // a dangling symlink
  }
  if (!isDirectory) throw new SpoolDirectoryError(dir, "it is not a directory");
  const probe = join(dir, `.write-test-${process.pid}`);
  try {
    const fd = openSync(probe, "w");
    try {
      writeSync(fd, "buildcast\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (error) {
    throw new SpoolDirectoryError(dir, `cannot write a file in it: ${errorText(error)}`);
  }
}

export interface SpoolStats {
  readonly events: number;
  readonly bytes: number;
}

/**
 * A durable local buffer for accepted events while JetStream is unreachable. Append-only
 * segment files of JSON lines; every append is fsynced before the webhook is answered.
 * A segment is removed only after every event in it was acked by JetStream, and events
 * keep their ids, so a crash mid-flush republishes a few events that JetStream then drops
 * as duplicates (within the stream's duplicate window). One directory per process.
 */
export class Spool {
  readonly #dir: string;
  readonly #maxBytes: number;
  #fd: number | null = null;
  #current: string | null = null;
  #sequence = 0;
  #bytes = 0;
  #events = 0;
  /** bytes in the open segment: what a failed append cuts it back to */
  #segmentBytes = 0;
  /** the largest append stored so far: readiness keeps room for one more like it */
  #largestAppend = 0;

  constructor(dir: string, maxBytes: number) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
    prepareDirectory(dir);
    for (const segment of this.segments()) {
      const path = join(dir, segment);
      this.#bytes += statSync(path).size;
      const events = segmentEvents(path);
      while (!events.next().done) this.#events += 1;
    }
  }

  stats(): SpoolStats {
    return { events: this.#events, bytes: this.#bytes };
  }

  /** Whether a webhook like the ones so far would still fit (readiness asks this). */
  hasRoom(): boolean {
    return this.#bytes + Math.max(1, this.#largestAppend) <= this.#maxBytes;
  }

  /**
   * Appends events and fsyncs; throws SpoolFullError past the size limit, and the write's
   * error (ENOSPC, EIO) when the disk fails it.
   */
  append(events: readonly BuildEvent[]): void {
    const [refused] = this.appendAll([events]);
    if (refused) throw refused;
  }

  /**
   * Appends each group of events (one webhook's) whole or not at all, every group in one write
   * and one fsync: a fsync is milliseconds of a blocked event loop, on a network volume more,
   * and one per webhook capped the webhooks a replica could take during a NATS outage. Returns,
   * per group, null once it is on disk or the SpoolFullError that kept it out. Throws the
   * write's error (ENOSPC, EIO), with none of the groups stored: a failed write leaves nothing
   * behind, the segment is cut back to where it was and closed, so the next append starts a
   * new one instead of gluing its line onto half of this one.
   */
  appendAll(groups: ReadonlyArray<readonly BuildEvent[]>): Array<SpoolFullError | null> {
    const refusals: Array<SpoolFullError | null> = [];
    const lines: Buffer[] = [];
    let size = 0;
    let events = 0;
    let largest = 0;
    for (const group of groups) {
      const data = Buffer.from(group.map((event) => JSON.stringify(event) + "\n").join(""));
      if (this.#bytes + size + data.length > this.#maxBytes) {
        refusals.push(new SpoolFullError(this.#maxBytes));
        continue;
      }
      refusals.push(null);
      lines.push(data);
      size += data.length;
      events += group.length;
      largest = Math.max(largest, data.length);
    }
    if (lines.length === 0) return refusals;
    const data = lines.length === 1 && lines[0] ? lines[0] : Buffer.concat(lines, size);
    if (this.#fd === null) {
      this.#current = `${Date.now().toString().padStart(15, "0")}-${process.pid}-${this.#sequence++}.jsonl`;
      this.#fd = openSync(join(this.#dir, this.#current), "a");
      this.#segmentBytes = 0;
    }
    const fd = this.#fd;
    try {
      // a write may take fewer bytes than asked (a nearly full disk): go on until all are down
      for (let written = 0; written < data.length;) {
        written += writeSync(fd, data, written, data.length - written);
      }
      fsyncSync(fd);
    } catch (error) {
      try {
        ftruncateSync(fd, this.#segmentBytes);
        fsyncSync(fd);
      } catch {
        // the segment keeps a torn last line, which parseSegment skips: nothing follows it
      }
      this.#seal();
      throw error;
    }
    this.#segmentBytes += data.length;
    this.#largestAppend = Math.max(this.#largestAppend, largest);
    this.#bytes += data.length;
    this.#events += events;
    return refusals;
  }

  /** Segment file names, oldest first. */
  segments(): string[] {
    return readdirSync(this.#dir)
      .filter((name) => name.endsWith(".jsonl"))
      .sort();
  }

  /**
   * Republishes every spooled event, oldest first, through `publish` (which must resolve only
   * once JetStream acked, or with `false` for an event it dropped), `window` of them at a time.
   * New appends go to a fresh segment meanwhile. Stops at the first failure, keeping the
   * segment (the events of it already stored come again, for JetStream to drop by their id);
   * returns how many events were published.
   *
   * The open segment is sealed (and drained) only once every older one is gone: while
   * JetStream stays unavailable with NATS connected, each failed flush would otherwise seal
   * one more segment, a file per flush interval for as long as the outage lasts.
   */
  async drain(publish: (event: BuildEvent) => Promise<boolean | void>, window = 1): Promise<number> {
    const older = await this.#drainSealed(publish, window);
    this.#seal();
    return older + (await this.#drainSealed(publish, window));
  }

  /** Drains every segment but the open one, oldest first. */
  async #drainSealed(
    publish: (event: BuildEvent) => Promise<boolean | void>,
    window: number,
  ): Promise<number> {
    let published = 0;
    for (const segment of this.segments()) {
      if (segment === this.#current) continue;
      const path = join(this.#dir, segment);
      const bytes = statSync(path).size;
      let events = 0;
      let inFlight: Array<Promise<boolean | void>> = [];
      const settle = async (): Promise<void> => {
        const results = await Promise.all(inFlight);
        inFlight = [];
        published += results.filter((result) => result !== false).length;
      };
      for (const event of segmentEvents(path)) {
        events += 1;
        if (inFlight.push(publish(event)) >= window) await settle();
      }
      await settle();
      unlinkSync(path);
      this.#bytes = Math.max(0, this.#bytes - bytes);
      this.#events = Math.max(0, this.#events - events);
    }
    return published;
  }

  close(): void {
    this.#seal();
  }

  #seal(): void {
    if (this.#fd !== null) {
      closeSync(this.#fd);
      this.#fd = null;
      this.#current = null;
    }
  }
}

/** How much of a segment is read at a time. */
const READ_CHUNK = 1024 * 1024;

/**
 * A segment's events, oldest first, read a megabyte at a time. While NATS is disconnected
 * nothing seals the open segment, so one can hold a whole outage, up to `spool.maxBytes`
 * (256 MB): read and parsed whole, such a segment took a restart to 713 MB RSS to count it
 * and its drain to 1.3 GB, past the 384 MiB the Kubernetes example allows, so the replica
 * was OOM-killed over and over with the outage's webhooks in its spool. Lines are split at
 * their newline byte, which no multi-byte UTF-8 character contains.
 */
function* segmentEvents(path: string): Generator<BuildEvent> {
  const fd = openSync(path, "r");
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    let carried = Buffer.alloc(0);
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, null);
      const data =
        carried.length === 0 ? chunk.subarray(0, read) : Buffer.concat([carried, chunk.subarray(0, read)]);
      let start = 0;
      for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, start)) {
        const event = parseLine(data.toString("utf8", start, end));
        start = end + 1;
        if (event) yield event;
      }
      if (read === 0) {
        const last = parseLine(data.toString("utf8", start));
        if (last) yield last;
        return;
      }
      // a copy: the chunk is read into again
      carried = Buffer.from(data.subarray(start));
    }
  } finally {
    closeSync(fd);
  }
}

/** A torn last line (a crash mid-write, before the webhook was answered) is skipped. */
function parseLine(line: string): BuildEvent | null {
  if (line.trim() === "") return null;
  try {
    return JSON.parse(line) as BuildEvent;
  } catch {
    // only the unanswered tail of a crashed write can be partial
    return null;
  }
}
