import { createHash } from "node:crypto";

export type ChannelName = "slack" | "email";

/**
 * The longest encoded part of a key. A KV get or put names its key in the subject, and NATS
 * closes the connection of a client whose protocol line passes its max_control_line (4 KB by
 * default): the consumer's retries of one event with a name of a few thousand characters (a
 * fork's pull request sets its workflow's `name:`, an external CI its status context) would
 * drop the gateway's connection again and again. Two parts and the bucket's name stay well
 * under it.
 */
export const MAX_KEY_PART = 1000;

/** A part too long to spell out: `==` (never an encoding, see below) and a hash of the name. */
const HASHED_PART = /^==[0-9a-f]{40}$/;

/**
 * KV keys allow only [-/_=.a-zA-Z0-9] and `.` separates tokens, so every name is encoded:
 * safe characters stay readable, anything else becomes =HH per UTF-8 byte, and the empty
 * string becomes a lone "=" (never produced otherwise, since "=" is always followed by hex).
 * An encoding longer than MAX_KEY_PART is replaced by `==` and the name's SHA-256 (40 hex
 * digits), which decodeKeyPart cannot turn back into the name.
 */
export function encodeKeyPart(text: string): string {
  const out = spelledKeyPart(text);
  if (out.length <= MAX_KEY_PART) return out;
  return `==${createHash("sha256").update(text, "utf8").digest("hex").slice(0, 40)}`;
}

/** A name spelled out as a key part, however long (see encodeKeyPart). */
function spelledKeyPart(text: string): string {
  if (text === "") return "=";
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9_/-]/.test(char) ? char : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The longest key an earlier release may have spelled out whole and NATS taken (its subject,
 * with the bucket's and the API's prefixes and a reply inbox, under the 4 KB control line).
 */
const LEGACY_KEY_MAX = 3_700;

/**
 * Where releases before long names were hashed kept what `prefix` and `names` key now: every
 * name spelled out. Null when none is hashed, or when the key is too long for an earlier
 * release to have written it (or for a client to name it in a subject).
 */
function spelledKey(prefix: string, ...names: string[]): string | null {
  if (names.every((name) => spelledKeyPart(name).length <= MAX_KEY_PART)) return null;
  const key = [prefix, ...names.map(spelledKeyPart)].join(".");
  return key.length > LEGACY_KEY_MAX ? null : key;
}

/** The name an encoded part spells; null for a name too long to spell out (see encodeKeyPart). */
export function decodeKeyPart(encoded: string): string | null {
  if (HASHED_PART.test(encoded)) return null;
  if (encoded === "=") return "";
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded.charAt(i) === "=") {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(encoded.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

export const laneKvKey = (channel: ChannelName, laneId: string): string =>
  `${channel}.lane.${encodeKeyPart(laneId)}`;

export const recordKvKey = (channel: ChannelName, entityKey: string): string =>
  `${channel}.run.${encodeKeyPart(entityKey)}`;

export const slackMessageKvKey = (slackChannel: string, entityKey: string): string =>
  `slack.msg.${encodeKeyPart(slackChannel)}.${encodeKeyPart(entityKey)}`;

/** where an earlier release kept a lane whose key now hashes a name (see spelledKey) */
export const legacyLaneKvKey = (channel: ChannelName, laneId: string): string | null =>
  spelledKey(`${channel}.lane`, laneId);

/** where an earlier release kept an entity's record whose key now hashes a name (see spelledKey) */
export const legacyRecordKvKey = (channel: ChannelName, entityKey: string): string | null =>
  spelledKey(`${channel}.run`, entityKey);

/** where an earlier release kept a run's Slack message whose key now hashes a name (see spelledKey) */
export const legacySlackMessageKvKey = (slackChannel: string, entityKey: string): string | null =>
  spelledKey("slack.msg", slackChannel, entityKey);

/** the claim written before a message's first post (see channels/slack-claim.ts) */
export const slackClaimKvKey = (slackChannel: string, entityKey: string): string =>
  `slack.claim.${encodeKeyPart(slackChannel)}.${encodeKeyPart(entityKey)}`;

/** the claim written before a run attempt's failure thread reply is posted */
export const slackReplyClaimKvKey = (slackChannel: string, entityKey: string, attempt: number): string =>
  `slack.reply.${encodeKeyPart(slackChannel)}.${encodeKeyPart(entityKey)}.${attempt}`;

export const shortHash = (...parts: readonly string[]): string =>
  createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 24);
