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
  if (text === "") return "=";
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9_/-]/.test(char) ? char : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (out.length <= MAX_KEY_PART) return out;
  return `==${createHash("sha256").update(text, "utf8").digest("hex").slice(0, 40)}`;
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

/** the claim written before a message's first post (see channels/slack-claim.ts) */
export const slackClaimKvKey = (slackChannel: string, entityKey: string): string =>
  `slack.claim.${encodeKeyPart(slackChannel)}.${encodeKeyPart(entityKey)}`;

/** the claim written before a run attempt's failure thread reply is posted */
export const slackReplyClaimKvKey = (slackChannel: string, entityKey: string, attempt: number): string =>
  `slack.reply.${encodeKeyPart(slackChannel)}.${encodeKeyPart(entityKey)}.${attempt}`;

export const shortHash = (...parts: readonly string[]): string =>
  createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 24);
