import type { WebClient } from "@slack/web-api";
import { classifySlackError } from "./slack-errors.ts";

/** What to do about each refusal; the token itself is never part of it. */
const HINTS: Readonly<Record<string, string>> = {
  invalid_auth:
    "SLACK_BOT_TOKEN is not a token this workspace knows: set it to the app's Bot User OAuth Token (xoxb-…)",
  not_authed: "no token reached Slack: set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)",
  account_inactive:
    "the bot user or its workspace is deactivated: reactivate it (or reinstall the app and set the new SLACK_BOT_TOKEN)",
  token_revoked:
    "the token was revoked (the app uninstalled): reinstall the app and set the new SLACK_BOT_TOKEN",
  token_expired:
    "the token expired (the app has token rotation on, which buildcast does not refresh): turn rotation off and set a new SLACK_BOT_TOKEN",
};

export const tokenRefusalHint = (code: string): string =>
  HINTS[code] ?? "check SLACK_BOT_TOKEN in the app's OAuth & Permissions page";

/** What auth.test said of the token. */
export type TokenCheck =
  | { readonly outcome: "accepted"; readonly team: string; readonly user: string }
  | { readonly outcome: "refused"; readonly code: string }
  /** no answer about the token (network, 5xx, 429, another error): it may well be fine */
  | { readonly outcome: "unknown"; readonly reason: string };

/** Asks Slack whether it takes the token (auth.test), without ever putting it in the answer. */
export async function checkSlackToken(client: WebClient): Promise<TokenCheck> {
  try {
    const answer = await client.auth.test();
    return { outcome: "accepted", team: answer.team ?? "?", user: answer.user ?? "?" };
  } catch (error) {
    const failure = classifySlackError(error);
    if (failure.kind === "token_refused") return { outcome: "refused", code: failure.reason };
    return { outcome: "unknown", reason: failure.reason };
  }
}
