import { isAscii } from "node:buffer";
import { HttpError } from "./http-error.ts";

// ignoreBOM keeps a leading byte order mark in the text: the signature is over the exact
// bytes, and a decoder that drops the BOM would verify a body the sender never signed.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The body as text, byte for byte, refusing bytes that are not UTF-8 (signatures are over
 * valid UTF-8 JSON). Most webhook bodies are ASCII only, and ASCII bytes are the same text
 * in UTF-8 and Latin-1: such a body is checked (one vectorized pass) and copied into a
 * string, where the UTF-8 decoder validates, then scans, then converts its 20 KB. Any other
 * byte takes the strict UTF-8 decoder, BOM and invalid sequences included.
 */
export function decodeUtf8(raw: Uint8Array): string {
  if (isAscii(raw)) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1");
  try {
    return utf8.decode(raw);
  } catch {
    throw new HttpError(400, "invalid_encoding", "the request body is not valid UTF-8");
  }
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

export function parseJson(text: string): unknown {
  if (text.trim() === "") throw new HttpError(400, "empty_body", "the request body is empty");
  try {
    return JSON.parse(text.startsWith("\uFEFF") ? text.slice(1) : text) as unknown;
  } catch (error) {
    throw new HttpError(
      400,
      "malformed_json",
      `the request body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

export function requireObject(payload: unknown): Record<string, unknown> {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new HttpError(400, "invalid_payload", "the webhook payload must be a JSON object");
  }
  return payload as Record<string, unknown>;
}
