import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";
import type { Request, Response } from "express";

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

/** Below this a compressed body saves less than its headers cost (the `compression` package's threshold). */
const MIN_BYTES = 1024;
/** Brotli's default (11) takes seconds for a large dashboard; 5 is as fast as gzip and still smaller. */
const BROTLI_QUALITY = 5;

/**
 * Bytes of answers handed to clients and not yet taken by them: what a client that does not
 * read leaves in the gateway (the dashboard of 3,000 branches is 4.8 MB uncompressed), for as
 * long as its connection stays open. One answer alone is always let in, however large; past
 * the limit, others are refused (503 busy) until those clients read or go.
 */
export interface AnswerMemory {
  /** an answer of about `bytes` would not fit now: refused before the work of making it */
  full(bytes: number): boolean;
  /** counts `bytes` for this answer until it is sent or its connection closes; false when they do not fit */
  hold(res: Response, bytes: number): boolean;
}

export function answerMemory(total: number): AnswerMemory {
  let held = 0;
  return {
    full: (bytes) => held > 0 && held + bytes > total,
    hold(res, bytes) {
      if (held > 0 && held + bytes > total) return false;
      held += bytes;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        held -= bytes;
      };
      res.once("finish", release);
      res.once("close", release);
      return true;
    },
  };
}

/**
 * Sends a text answer (its type already set) compressed when the client takes it: the dashboard
 * of 2,000 branches is 2.7 MB of HTML and a hundred runs 77 KB of JSON, which a TV screen on
 * office Wi-Fi or a plugin polling over a VPN fetch again and again. Compressed on the thread
 * pool, not the event loop, and only when the client's copy is not current. Never for the
 * live feed, whose events must arrive as they are written.
 */
export async function sendCompressible(
  req: Request,
  res: Response,
  body: string,
  memory?: AnswerMemory,
): Promise<void> {
  res.vary("Accept-Encoding");
  const bytes = Buffer.from(body, "utf8");
  // the ETag is the uncompressed body's (weak: the same for every encoding), so a poller's
  // unchanged answer is a 304 before any compressing
  const etag = req.app.get("etag fn") as ((body: Buffer) => string | undefined) | undefined;
  const tag = etag?.(bytes);
  if (tag !== undefined) {
    res.set("ETag", tag.startsWith("W/") ? tag : `W/${tag}`);
    if (req.fresh) {
      res.status(304).end();
      return;
    }
  }
  const encoding = bytes.length < MIN_BYTES ? false : req.acceptsEncodings("br", "gzip");
  let payload = bytes;
  if (encoding === "br") {
    const params = {
      [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    };
    payload = await brotli(bytes, { params });
  } else if (encoding === "gzip") {
    payload = await gzipped(bytes);
  }
  if (memory !== undefined && !memory.hold(res, payload.length)) return sendBusy(res);
  if (encoding !== false) res.set("Content-Encoding", encoding);
  res.send(payload);
}

/** The 503 of an answer that does not fit in the answer memory now. */
export function sendBusy(res: Response): void {
  res.status(503).type("json").set({ "Retry-After": "1", "Cache-Control": "no-store" }).removeHeader("ETag");
  res.send({
    error: "busy",
    message: "too many answers are still waiting for their clients to read them; retry shortly",
  });
}

/** `res.json` compressed: the API's answers, a hundred runs or a run of many jobs. */
export function sendJson(req: Request, res: Response, value: unknown, memory?: AnswerMemory): Promise<void> {
  res.type("json");
  return sendCompressible(req, res, JSON.stringify(value), memory);
}
