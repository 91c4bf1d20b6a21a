import { z } from "zod";
import { PayloadError } from "../errors.ts";

/**
 * Defensive readers over an untrusted JSON payload. Two strictness levels on purpose:
 * fields that decide identity or state (ids, sha, status) throw PayloadError when missing or
 * of the wrong type; descriptive fields (names, urls, messages, times) degrade to null, so an
 * odd but genuine delivery still produces an event.
 */
export type JsonObject = Readonly<Record<string, unknown>>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Own properties only: a payload key such as "constructor" must not reach Object.prototype. */
export function field(source: JsonObject | null, key: string): unknown {
  return source !== null && Object.hasOwn(source, key) ? source[key] : undefined;
}

export function requireObject(value: unknown, what: string): JsonObject {
  if (!isObject(value)) throw new PayloadError(`${what} must be an object`);
  return value;
}

export function optObject(source: JsonObject | null, key: string): JsonObject | null {
  const value = field(source, key);
  return isObject(value) ? value : null;
}

export function requireString(source: JsonObject, key: string, what: string): string {
  const value = field(source, key);
  if (typeof value !== "string" || value === "")
    throw new PayloadError(`${what}.${key} must be a non-empty string`);
  return value;
}

/** A decision field GitHub may send as null (check suite status, conclusions). */
export function nullableString(source: JsonObject, key: string, what: string): string | null {
  const value = field(source, key);
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new PayloadError(`${what}.${key} must be a string or null`);
  return value;
}

/** GitHub ids are numbers; the contract carries them as strings. */
export function requireId(source: JsonObject, key: string, what: string): string {
  const value = field(source, key);
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  if (typeof value === "string" && value !== "") return value;
  throw new PayloadError(`${what}.${key} must be an integer or a non-empty string`);
}

export function optString(source: JsonObject | null, key: string): string | null {
  const value = field(source, key);
  return typeof value === "string" ? value : null;
}

/** GitHub sends "" for unset URLs (deployment target_url); the contract wants null. */
export function optUrl(source: JsonObject | null, key: string): string | null {
  const value = optString(source, key);
  return value === null || value === "" ? null : value;
}

export function optInt(source: JsonObject | null, key: string): number | null {
  const value = field(source, key);
  return typeof value === "number" && Number.isSafeInteger(value) ? value : null;
}

const isoTime = z.iso.datetime({ offset: true });

/** Only times the contract accepts pass; anything else is treated as absent. */
export function optTime(source: JsonObject | null, key: string): string | null {
  const value = field(source, key);
  return typeof value === "string" && isoTime.safeParse(value).success ? value : null;
}

/** First element's `key` of an array field (first pull request number, first branch name). */
export function firstOf(source: JsonObject | null, arrayKey: string): JsonObject | null {
  const list = field(source, arrayKey);
  if (!Array.isArray(list)) return null;
  const first: unknown = list[0];
  return isObject(first) ? first : null;
}
