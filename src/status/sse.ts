import type { Request, Response } from "express";
import { ipKeyGenerator } from "express-rate-limit";
import { FRESH } from "./cache.ts";
import type { StatusView, ViewChange } from "./view.ts";
import { rowGroups, rowIdOf, rowOf } from "./queries.ts";
import type { State } from "./model.ts";
import { renderRow } from "./dashboard/row.ts";
import { renderCounts } from "./dashboard/page.ts";

export interface RowMessage {
  readonly id: string;
  /** the row's markup, or null when the row is gone */
  readonly html: string | null;
  /** the header's state counts */
  readonly counts: string;
}

/**
 * The rows that changed branch lists belong to, rendered from everything the view holds now,
 * with the header's counts. `rowStates` holds every row's state between calls (the hub keeps
 * one while streams are open): only the changed rows are built then, so a change costs a
 * scan of the view, not a row for every row. Empty, it is filled from every row.
 */
export function rowMessages(
  view: StatusView,
  changes: readonly ViewChange[],
  now: number,
  rowStates: Map<string, State> = new Map(),
): RowMessage[] {
  const ids = new Set<string>();
  for (const change of changes) {
    if (change.state) ids.add(rowIdOf(change.state));
    if (change.previous) ids.add(rowIdOf(change.previous));
  }
  if (ids.size === 0) return [];
  const everyRow = rowStates.size === 0;
  // grouped in one pass: filtering every state for every changed row was rows × rows, and a
  // dashboard catching up on 3,000 rows blocked the process (and every webhook) for seconds
  const groups = rowGroups(view.states(), everyRow ? undefined : ids);
  if (everyRow) for (const [id, group] of groups) if (!ids.has(id)) rowStates.set(id, rowOf(id, group).state);
  const rows = [...ids].map((id) => {
    const group = groups.get(id);
    const row = group ? rowOf(id, group) : null;
    if (row) rowStates.set(id, row.state);
    else rowStates.delete(id);
    return { id, row };
  });
  const counts = renderCounts([...rowStates.values()].map((state) => ({ state })));
  return rows.map(({ id, row }) => ({ id, html: row ? renderRow(row, now) : null, counts }));
}

export interface SseHub {
  handle(req: Request, res: Response): void;
  /** ends every open stream (on shutdown) */
  close(): void;
}

/**
 * One turn's row events. Only the last names the revision: an event without an id leaves a
 * browser's Last-Event-ID as it was, so a stream cut part-way through a turn reconnects from
 * the turn before and is sent the whole turn again, not just what follows it.
 */
const rowFrames = (revision: number, messages: readonly RowMessage[]): string[] =>
  messages.map(
    (message, i) =>
      `event: row\n${i === messages.length - 1 ? `id: ${revision}\n` : ""}data: ${JSON.stringify(message)}\n\n`,
  );

/**
 * A client that stops reading (a laptop asleep on a dead link) would hold every frame since
 * in the gateway's memory: past this much unsent, its stream is cut, and its browser
 * reconnects with Last-Event-ID and catches up on what changed.
 */
export const MAX_UNSENT_BYTES = 1024 * 1024;
/**
 * The most rows a feed opened with Last-Event-ID or ?since= is sent as its catch-up. Each
 * feed's catch-up is rendered and written for it alone, and a client that does not read
 * leaves it in the gateway's memory: every row of 3,000 (`?since=0`) is 6 MB of frames, some
 * 17 MB of the gateway's memory per feed. Past this many rows (or MAX_UNSENT_BYTES of frames),
 * the feed is told to reload instead: a page that missed that much loads itself anew, one
 * compressed page rather than megabytes of uncompressed frames.
 */
export const MAX_CATCH_UP_ROWS = 100;

/** Live feeds open at once, in all and per client address. */
export const MAX_STREAMS = 1000;
export const MAX_STREAMS_PER_CLIENT = 20;

/**
 * GET /api/v1/events: every change of a dashboard row as an SSE `row` event whose id is the
 * KV revision. A client that reconnects (Last-Event-ID) or opens with ?since= first gets the
 * rows changed after that revision, so nothing between page load and stream start is lost.
 *
 * Changes that arrive together (a consumer batch, lists expiring) are rendered once, at the
 * end of the event-loop turn, for every client: each rendering counts every row the view
 * holds. Their id is the view's revision then, which covers every change sent so far; an
 * expired list has no revision of its own to give.
 */
export interface SseHubOptions {
  readonly heartbeatMs: number;
  readonly now?: () => number;
  /**
   * Whether the gateway reaches NATS, where the rows come from. While it does not, nothing on
   * a page can change (webhooks wait in the spool) though its own stream is fine: pings say
   * `"stale":true`, so the page does not claim to be live.
   */
  readonly storeConnected?: () => boolean;
}

/** How often a change of `storeConnected` is looked for while streams are open. */
const STORE_CHECK_MS = 1000;

export function createSseHub(view: StatusView, options: SseHubOptions): SseHub {
  /** each open stream, with what ends it */
  const open = new Map<Response, { readonly client: string; readonly stop: () => void }>();
  const now = options.now ?? Date.now;
  /**
   * Writes what one turn has for a stream (a flush, a catch-up, a heartbeat) whole, unless
   * more than the limit still waits from earlier turns: that client is not reading, and is
   * cut. Judged before writing, so one big turn (a catch-up, 600 rows changed at once) never
   * cuts a client that reads.
   */
  const send = (res: Response, texts: readonly string[]): void => {
    if (res.writableEnded || res.destroyed) return;
    if (res.writableLength > MAX_UNSENT_BYTES) {
      res.destroy();
      return;
    }
    for (const text of texts) res.write(text);
  };
  const streamsOf = (client: string): number => {
    let count = 0;
    for (const stream of open.values()) if (stream.client === client) count++;
    return count;
  };
  let pending: ViewChange[] = [];
  // every row's state while streams are open, for the counts (see rowMessages)
  const rowStates = new Map<string, State>();
  const flush = (): void => {
    const changes = pending;
    pending = [];
    if (open.size === 0) return;
    const revision = view.revision();
    const frames = rowFrames(revision, rowMessages(view, changes, now(), rowStates));
    for (const res of open.keys()) send(res, frames);
  };
  /** The rows changed since a feed's revision, or when they are too many, a `reload` event. */
  const catchUp = (missed: readonly ViewChange[]): string[] => {
    const rows = new Set<string>();
    for (const change of missed) {
      if (change.state) rows.add(rowIdOf(change.state));
      if (change.previous) rows.add(rowIdOf(change.previous));
    }
    // no id: a client that reconnects instead still asks from where it was
    const reload = [`event: reload\ndata: {"rows":${rows.size}}\n\n`];
    if (rows.size > MAX_CATCH_UP_ROWS) return reload;
    const frames = rowFrames(view.revision(), rowMessages(view, missed, now()));
    let bytes = 0;
    for (const frame of frames) bytes += frame.length;
    return bytes > MAX_UNSENT_BYTES ? reload : frames;
  };
  const storeConnected = options.storeConnected ?? (() => true);
  const ping = (): string =>
    `event: ping\ndata: {"every":${options.heartbeatMs}${storeConnected() ? "" : ',"stale":true'}}\n\n`;
  // a page hears of the store going or coming back at once, not at the next heartbeat
  let storeCheck: NodeJS.Timeout | null = null;
  let wasConnected = true;
  const checkStore = (): void => {
    const connected = storeConnected();
    if (connected === wasConnected) return;
    wasConnected = connected;
    const frame = [ping()];
    for (const res of open.keys()) send(res, frame);
  };
  let unsubscribe: (() => void) | null = null;
  // once closed (shutdown), a request that still arrives on a kept-alive connection is told to
  // reconnect, which lands it on another replica, instead of holding the server open
  let closed = false;

  return {
    handle(req, res) {
      const asked = (req.query as Record<string, unknown>).since;
      if (asked !== undefined && (typeof asked !== "string" || !/^\d+$/.test(asked))) {
        // an EventSource that reconnects sends back the id we gave it; ?since= is typed by people
        res.status(400).set("Cache-Control", FRESH).json({
          error: "bad_request",
          parameter: "since",
          message: "since must be a revision number, as in the id of a row event",
        });
        return;
      }
      // one IPv6 /56 is one client, as for the webhook rate limit: its addresses cost nothing
      const client = ipKeyGenerator(req.ip ?? "unknown");
      if (open.size >= MAX_STREAMS || streamsOf(client) >= MAX_STREAMS_PER_CLIENT) {
        res
          .status(429)
          .set({ "Retry-After": "30", "Cache-Control": FRESH })
          .json({
            error: "too_many_streams",
            message: `at most ${MAX_STREAMS_PER_CLIENT} live feeds per client and ${MAX_STREAMS} in all are open at once`,
          });
        return;
      }
      const lastId = req.headers["last-event-id"] ?? asked;
      const since = typeof lastId === "string" && /^\d+$/.test(lastId) ? Number(lastId) : null;
      res.status(200).set({
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        // while shutting down, close the connection too: a browser reusing it would keep
        // reaching this process instead of a replica that is still up
        Connection: closed ? "close" : "keep-alive",
        // nginx and similar proxies would otherwise hold events back in a buffer
        "X-Accel-Buffering": "no",
      });
      res.flushHeaders();
      // HEAD (express routes it here) asks for the headers only: a stream would never end
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      if (closed) {
        res.end(`retry: 3000\n: shutting down; reconnect\n\n`);
        return;
      }
      // an event, not a comment: a page can see it, and so tell a connection that went silent
      // (a proxy or NAT that dropped it without a word) from a quiet one, and reconnect. The
      // first comes at once, so the page knows from the start how long silence may last.
      if (open.size === 0) wasConnected = storeConnected();
      res.write(`retry: 3000\n: buildcast live feed\n\n${ping()}`);
      const heartbeat = setInterval(() => send(res, [ping()]), options.heartbeatMs);
      const stop = (): void => {
        clearInterval(heartbeat);
        if (!open.delete(res)) return;
        if (open.size === 0) {
          if (storeCheck) clearInterval(storeCheck);
          storeCheck = null;
          unsubscribe?.();
          unsubscribe = null;
          pending = [];
          // unsubscribed, it would go stale: the next stream fills it anew
          rowStates.clear();
        }
      };
      open.set(res, { client, stop });
      res.on("close", stop);
      // a socket error ends the stream like a close; unhandled, it would end the process
      res.on("error", stop);

      if (since !== null) send(res, catchUp(view.changedSince(since)));
      storeCheck ??= setInterval(checkStore, STORE_CHECK_MS);
      unsubscribe ??= view.subscribe((change) => {
        if (pending.push(change) === 1) setImmediate(flush);
      });
    },
    close() {
      closed = true;
      for (const [res, { stop }] of [...open]) {
        stop();
        // end the connection with the stream, so the browser reconnects on a new one (the
        // response lets go of its socket once finished: hold on to it first). A client that
        // stopped reading never lets that finish: its socket is destroyed after a moment.
        const socket = res.socket;
        res.end(() => socket?.end());
        setTimeout(() => socket?.destroy(), 1000).unref();
      }
      open.clear();
      rowStates.clear();
      if (storeCheck) clearInterval(storeCheck);
      storeCheck = null;
      unsubscribe?.();
      unsubscribe = null;
      pending = [];
    },
  };
}
