import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { BuildEvent } from "../events/schema.ts";

export class SpoolFullError extends Error {
  constructor(limit: number) {
    super(`the local spool is full (limit ${limit} bytes); JetStream is unreachable — retry later`);
    this.name = "SpoolFullError";
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
    mkdirSync(dir, { recursive: true });
    for (const segment of this.segments()) {
      const text = readFileSync(join(dir, segment), "utf8");
      this.#bytes += Buffer.byteLength(text);
      this.#events += parseSegment(text).length;
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
   * error (ENOSPC, EIO) when the disk fails it. A failed append leaves nothing behind: the
   * segment is cut back to where it was and closed, so the next append starts a new one
   * instead of gluing its line onto half of this one.
   */
  append(events: readonly BuildEvent[]): void {
    const data = Buffer.from(events.map((event) => JSON.stringify(event) + "\n").join(""));
    if (this.#bytes + data.length > this.#maxBytes) throw new SpoolFullError(this.#maxBytes);
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
    this.#largestAppend = Math.max(this.#largestAppend, data.length);
    this.#bytes += data.length;
    this.#events += events.length;
  }

  /** Segment file names, oldest first. */
  segments(): string[] {
    return readdirSync(this.#dir)
      .filter((name) => name.endsWith(".jsonl"))
      .sort();
  }

  /**
   * Republishes every spooled event, oldest first, through `publish` (which must resolve only
   * once JetStream acked, or with `false` for an event it dropped). New appends go to a fresh
   * segment meanwhile. Stops at the first failure, keeping the segment; returns how many
   * events were published.
   */
  async drain(publish: (event: BuildEvent) => Promise<boolean | void>): Promise<number> {
    this.#seal();
    let published = 0;
    for (const segment of this.segments()) {
      if (segment === this.#current) continue;
      const path = join(this.#dir, segment);
      const text = readFileSync(path, "utf8");
      const events = parseSegment(text);
      for (const event of events) {
        if ((await publish(event)) !== false) published += 1;
      }
      unlinkSync(path);
      this.#bytes = Math.max(0, this.#bytes - Buffer.byteLength(text));
      this.#events = Math.max(0, this.#events - events.length);
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

/** A torn last line (a crash mid-write, before the webhook was answered) is skipped. */
function parseSegment(text: string): BuildEvent[] {
  const events: BuildEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      events.push(JSON.parse(line) as BuildEvent);
    } catch {
      // only the unanswered tail of a crashed write can be partial
    }
  }
  return events;
}
