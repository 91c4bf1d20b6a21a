import { createHash } from "node:crypto";

export type ChannelName = "slack" | "email";

/**
 * KV keys allow only [-/_=.a-zA-Z0-9] and `.` separates tokens, so every name is encoded:
 * safe characters stay readable, anything else becomes =HH per UTF-8 byte, and the empty
 * string becomes a lone "=" (never produced otherwise, since "=" is always followed by hex).
 */
export function encodeKeyPart(text: string): string {
  if (text === "") return "=";
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9_/-]/.test(char) ? char : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export function decodeKeyPart(encoded: string): string {
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
