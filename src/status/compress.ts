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
 * Sends a text answer (its type already set) compressed when the client takes it: the dashboard
 * of 2,000 branches is 2.7 MB of HTML and a hundred runs 77 KB of JSON, which a TV screen on
 * office Wi-Fi or a plugin polling over a VPN fetch again and again. Compressed on the thread
 * pool, not the event loop, and only when the client's copy is not current. Never for the
 * live feed, whose events must arrive as they are written.
 */
export async function sendCompressible(req: Request, res: Response, body: string): Promise<void> {
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
  if (encoding === "br") {
    const params = {
      [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    };
    res.set("Content-Encoding", "br").send(await brotli(bytes, { params }));
  } else if (encoding === "gzip") {
    res.set("Content-Encoding", "gzip").send(await gzipped(bytes));
  } else {
    res.send(bytes);
  }
}

/** `res.json` compressed: the API's answers, a hundred runs or a run of many jobs. */
export function sendJson(req: Request, res: Response, value: unknown): Promise<void> {
  res.type("json");
  return sendCompressible(req, res, JSON.stringify(value));
}
