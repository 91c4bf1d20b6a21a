import { ErrorCode } from "@slack/web-api";

export type SlackFailure =
  | { readonly kind: "rate_limited"; readonly retryAfterMs: number; readonly reason: string }
  | { readonly kind: "permanent"; readonly reason: string }
  /** Slack refuses the bot token itself (TOKEN_REFUSALS): every call would fail alike until it takes it */
  | { readonly kind: "token_refused"; readonly reason: string }
  | { readonly kind: "transient"; readonly reason: string };

/** Platform errors that no retry can fix: the dead-letter set is the place for them. */
export const PERMANENT_SLACK_ERRORS: ReadonlySet<string> = new Set([
  "channel_not_found",
  "not_in_channel",
  "is_archived",
  "no_permission",
  "missing_scope",
  "msg_too_long",
  "msg_blocks_too_long",
  "invalid_blocks",
  "invalid_arguments",
  "too_many_attachments",
  "restricted_action",
  // a read-only (announcement) channel, a thread-only one, one that takes no thread replies
  "restricted_action_read_only_channel",
  "restricted_action_thread_only_channel",
  "restricted_action_non_threadable_channel",
  // the workspace's admins suspended posting (EKM), or the token may not do this at all
  "ekm_access_denied",
  "access_denied",
  "team_access_not_granted",
  "not_allowed_token_type",
  "enterprise_is_restricted",
  "two_factor_setup_required",
  "method_deprecated",
  "deprecated_endpoint",
  // a malformed request: sending it again sends the same
  "no_text",
  "invalid_arg_name",
  "invalid_charset",
  "invalid_form_data",
  "invalid_post_type",
  "missing_post_type",
  "invalid_array_arg",
  "invalid_json",
  "json_not_object",
  "message_not_found",
  "cant_update_message",
  "edit_window_closed",
  // chat.update in a channel archived (or frozen, or deleted) since the message was posted
  "is_inactive",
]);

/**
 * Slack's answers for a bot token it will not take, whatever the call: a property of the
 * token, not of a notice, so every other notice would fail the same way. Deliveries wait
 * for the token rather than become dead letters (slack-token-gate.ts).
 */
export const TOKEN_REFUSALS: ReadonlySet<string> = new Set([
  "invalid_auth",
  "not_authed",
  "account_inactive",
  "token_revoked",
  "token_expired",
]);

/**
 * chat.update's answers for a message that can no longer show the run: deleted in the
 * channel (`message_not_found`), or no longer editable (`cant_update_message`,
 * `edit_window_closed`).
 */
const GONE_MESSAGE_ERRORS: ReadonlySet<string> = new Set([
  "message_not_found",
  "cant_update_message",
  "edit_window_closed",
]);

/** Whether a chat.update failed because its message is gone, so a new one must be posted. */
export function messageGone(error: unknown): boolean {
  const e = (typeof error === "object" && error !== null ? error : {}) as SlackLikeError;
  return (
    e.code === ErrorCode.PlatformError &&
    typeof e.data?.error === "string" &&
    GONE_MESSAGE_ERRORS.has(e.data.error)
  );
}

interface SlackLikeError {
  code?: unknown;
  retryAfter?: unknown;
  statusCode?: unknown;
  data?: { error?: unknown };
  message?: unknown;
}

/** Sorts an error from @slack/web-api into what the job should do about it. */
export function classifySlackError(error: unknown): SlackFailure {
  const e = (typeof error === "object" && error !== null ? error : {}) as SlackLikeError;
  if (e.code === ErrorCode.RateLimitedError) {
    const seconds = typeof e.retryAfter === "number" && e.retryAfter > 0 ? e.retryAfter : 1;
    return { kind: "rate_limited", retryAfterMs: seconds * 1000, reason: `rate limited for ${seconds} s` };
  }
  if (e.code === ErrorCode.PlatformError) {
    const reason = typeof e.data?.error === "string" ? e.data.error : "unknown_error";
    if (TOKEN_REFUSALS.has(reason)) return { kind: "token_refused", reason };
    return PERMANENT_SLACK_ERRORS.has(reason) ? { kind: "permanent", reason } : { kind: "transient", reason };
  }
  if (e.code === ErrorCode.HTTPError) {
    const status = typeof e.statusCode === "number" ? e.statusCode : 0;
    // 4xx other than 429 means the request itself is wrong; retrying sends the same request
    if (status >= 400 && status < 500) return { kind: "permanent", reason: `HTTP ${status}` };
    return { kind: "transient", reason: `HTTP ${status}` };
  }
  const message = typeof e.message === "string" ? e.message : String(error);
  return { kind: "transient", reason: withCauses(message, error) };
}

/**
 * The message with what lies under it: Node's fetch says only "fetch failed", and the
 * reason an operator needs (ECONNREFUSED, getaddrinfo ENOTFOUND, a TLS certificate refused
 * by a proxy) is in its cause, on one line.
 */
function withCauses(message: string, error: unknown): string {
  const causes: string[] = [];
  let current = (error as { cause?: unknown }).cause;
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const { message: text, code } = current as { message?: unknown; code?: unknown };
    const said = typeof text === "string" && text.trim() !== "" ? text : typeof code === "string" ? code : "";
    const line = said.replace(/\s+/g, " ").trim().slice(0, 200);
    if (line !== "" && !message.includes(line) && !causes.includes(line)) causes.push(line);
    current = (current as { cause?: unknown }).cause;
  }
  return causes.length === 0 ? message : `${message} (${causes.join(": ")})`;
}

/**
 * What to change for the permanent errors a first setup meets, keyed by Slack's error code (a
 * token Slack refuses is not one: its deliveries wait, and slack-token.ts says what to do).
 */
const FIXES: Readonly<Record<string, string>> = {
  channel_not_found:
    "slack.channel must be the channel's id (C…, in the channel's details), and the app must be in a private channel",
  not_in_channel: "invite the app to the channel (/invite @your-app in it)",
  is_archived: "the channel is archived: point the route's slack.channel at another one",
  missing_scope:
    "give the app the chat:write and channels:history scopes (groups:history for private channels), reinstall it and update SLACK_BOT_TOKEN",
};

/** The fix for a failed Slack call's message (`slack chat.postMessage: not_in_channel`), if one is known. */
export function slackFix(message: string): string | null {
  const code = /: ([a-z_]+)$/.exec(message)?.[1];
  return code === undefined ? null : (FIXES[code] ?? null);
}
