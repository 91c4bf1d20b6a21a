import { PayloadError } from "../errors.ts";
import { firstLineOf } from "../first-line.ts";

/** A JSON object as parsed from a webhook body; every field is untrusted. */
export type JsonObject = Readonly<Record<string, unknown>>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A nested object, or an empty one when absent or not an object. */
export function objectAt(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  return isObject(value) ? value : {};
}

/** A non-empty string, or null. */
export function stringAt(parent: JsonObject, key: string): string | null {
  const value = parent[key];
  return typeof value === "string" && value.length > 0 ? value : null;
}

/** A safe integer, or null (GitLab ids, iids and counts are integers). */
export function integerAt(parent: JsonObject, key: string): number | null {
  const value = parent[key];
  return typeof value === "number" && Number.isSafeInteger(value) ? value : null;
}

/** An id as a string: a non-negative safe integer or a non-empty string; null otherwise. */
export function idAt(parent: JsonObject, key: string): string | null {
  const value = parent[key];
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? String(value) : null;
  return typeof value === "string" && value.trim().length > 0 ? value : null;
}

/** Like {@link idAt}, but a missing id means the payload is not the event it claims to be. */
export function requiredId(parent: JsonObject, key: string, where: string): string {
  const id = idAt(parent, key);
  if (id === null) throw new PayloadError(`${where}.${key} is missing or not an id`);
  return id;
}

export function requiredString(parent: JsonObject, key: string, where: string): string {
  const value = stringAt(parent, key);
  if (value === null) throw new PayloadError(`${where}.${key} is missing or not a string`);
  return value;
}

/** GitLab durations are seconds (integers for pipelines, fractions for jobs). */
export function secondsToMs(parent: JsonObject, key: string): number | null {
  const value = parent[key];
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return null;
  const ms = Math.round(value * 1000);
  return Number.isSafeInteger(ms) ? ms : null;
}

/** GitLab.com and instances with email privacy send the literal "[REDACTED]". */
export function emailAt(parent: JsonObject, key: string): string | null {
  const value = stringAt(parent, key);
  return value === null || value === "[REDACTED]" ? null : value;
}

export function firstLine(text: string | null): string | null {
  if (text === null) return null;
  const line = firstLineOf(text).trim();
  return line.length > 0 ? line : null;
}

export interface Person {
  readonly name: string | null;
  readonly email: string | null;
  readonly username: string | null;
}

/** A person, or null when the payload names no one. */
export function person(name: string | null, email: string | null, username: string | null): Person | null {
  return name === null && email === null && username === null ? null : { name, email, username };
}

/** The `user` object GitLab puts in every hook: who triggered the pipeline, job or deployment. */
export function actorOf(payload: JsonObject): Person | null {
  const user = objectAt(payload, "user");
  return person(stringAt(user, "name"), emailAt(user, "email"), stringAt(user, "username"));
}

/** "group/sub/project" from a project URL such as https://gitlab.com/group/sub/project. */
export function pathFromWebUrl(webUrl: string | null): string | null {
  if (webUrl === null || !URL.canParse(webUrl)) return null;
  const path = new URL(webUrl).pathname.replace(/^\/+|\/+$/g, "");
  return path.includes("/") ? decodeURIComponentSafe(path) : null;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The ref's kind: GitLab says `tag: true` for tags and `false` (or nothing) for branches. */
export function refType(ref: string | null, tag: unknown): "branch" | "tag" | null {
  if (ref === null) return null;
  return tag === true ? "tag" : "branch";
}

const MERGE_REQUEST_REF = /^refs\/merge-requests\/(\d+)\/(?:head|merge|train)$/;

/**
 * A job of a merge request pipeline names GitLab's hidden ref, `refs/merge-requests/<iid>/
 * head` (or `/merge`, `/train` for merged results and merge trains): no branch, a merge request.
 */
export function jobRef(
  ref: string | null,
  tag: unknown,
): {
  name: string | null;
  type: "branch" | "tag" | null;
  pullRequest: number | null;
} {
  const mergeRequest = ref === null ? null : MERGE_REQUEST_REF.exec(ref);
  if (mergeRequest) return { name: null, type: null, pullRequest: Number(mergeRequest[1]) };
  return { name: ref, type: refType(ref, tag), pullRequest: null };
}
