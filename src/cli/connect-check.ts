import { LogLevel, WebClient } from "@slack/web-api";
import nodemailer from "nodemailer";
import type { LoadedConfig } from "../config/load.ts";
import { SLACK_CHANNEL_ID } from "../config/warnings.ts";
import { classifySlackError } from "../notify/channels/slack-errors.ts";
import { checkSlackToken, tokenRefusalHint } from "../notify/channels/slack-token.ts";

/** One thing `config check --connect` asked a server about. */
export interface ConnectResult {
  readonly item: string;
  /** "ok", "fail" (exit 1), or "skip" (not checked, and not wrong by itself) */
  readonly outcome: "ok" | "fail" | "skip";
  readonly detail: string;
}

interface ChannelAnswer {
  readonly channel?: { name?: string; is_member?: boolean; is_archived?: boolean; is_private?: boolean };
}

/** What conversations.info says of one route's channel: does it exist, is the bot in it. */
async function checkChannel(client: WebClient, channel: string, botUser: string): Promise<ConnectResult> {
  const item = `slack channel ${channel}`;
  if (!SLACK_CHANNEL_ID.test(channel))
    return {
      item,
      outcome: "skip",
      detail: "a name, not a channel id: only an id (C…, in the channel's details) can be checked",
    };
  try {
    const answer = (await client.conversations.info({ channel })) as ChannelAnswer;
    const info = answer.channel ?? {};
    const name = info.name === undefined ? channel : `#${info.name}`;
    if (info.is_archived === true)
      return { item, outcome: "fail", detail: `${name} is archived: nothing can be posted there` };
    if (info.is_member !== true)
      return {
        item,
        outcome: "fail",
        detail: `the bot is not a member of ${name}: invite it (/invite @${botUser} in the channel)`,
      };
    return { item, outcome: "ok", detail: `${name}, the bot is a member` };
  } catch (error) {
    const data = (error as { data?: { error?: unknown; needed?: unknown; provided?: unknown } }).data;
    const code = typeof data?.error === "string" ? data.error : null;
    if (code === "missing_scope") {
      const needed = typeof data?.needed === "string" ? data.needed : "channels:read or groups:read";
      const provided = typeof data?.provided === "string" ? ` (the token has ${data.provided})` : "";
      return {
        item,
        outcome: "fail",
        detail:
          `cannot look at the channel: the token lacks the ${needed} scope${provided}; add it ` +
          "(channels:read for public channels, groups:read for private ones) under OAuth & Permissions and reinstall the app",
      };
    }
    if (code === "channel_not_found")
      return {
        item,
        outcome: "fail",
        detail: "not found: the id is wrong, or the channel is private and the bot is not in it",
      };
    return { item, outcome: "fail", detail: `Slack answered: ${classifySlackError(error).reason}` };
  }
}

/** Asks Slack about the token, then about every channel the routes name. */
async function checkSlack(loaded: LoadedConfig, token: string): Promise<ConnectResult[]> {
  const { config } = loaded;
  const client = new WebClient(token, {
    slackApiUrl: config.notify.slack.apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: config.notify.slack.timeout,
    logLevel: LogLevel.ERROR,
  });
  const channels = [...new Set(config.routes.flatMap((route) => (route.slack ? [route.slack.channel] : [])))];
  const check = await checkSlackToken(client);
  if (check.outcome !== "accepted") {
    const detail =
      check.outcome === "refused"
        ? `refused (${check.code}): ${tokenRefusalHint(check.code)}`
        : `no answer about the token from ${config.notify.slack.apiUrl}: ${check.reason}`;
    return [
      { item: "slack token", outcome: "fail", detail },
      ...channels.map((channel) => ({
        item: `slack channel ${channel}`,
        outcome: "skip" as const,
        detail: "not checked: the token was not accepted",
      })),
    ];
  }
  const results: ConnectResult[] = [
    {
      item: "slack token",
      outcome: "ok",
      detail: `accepted (workspace ${check.team}, bot user ${check.user})`,
    },
  ];
  for (const channel of channels) results.push(await checkChannel(client, channel, check.user));
  return results;
}

/** Connects to the SMTP server and logs in as the gateway would (nodemailer's verify). */
async function checkSmtp(smtpUrl: string, timeoutMs: number): Promise<ConnectResult> {
  // host and port only: the whole SMTP_URL counts as a secret and is scrubbed from the output
  const where = new URL(smtpUrl).host;
  // the URL's own options (secure, tls…) as the gateway uses them, with timeouts for a CLI
  const url = new URL(smtpUrl);
  for (const option of ["connectionTimeout", "greetingTimeout", "socketTimeout"])
    url.searchParams.set(option, String(timeoutMs));
  const transport = nodemailer.createTransport(url.toString());
  try {
    await transport.verify();
    return { item: "smtp", outcome: "ok", detail: `${where} took the connection (and the login, if any)` };
  } catch (error) {
    return { item: "smtp", outcome: "fail", detail: `${where}: ${(error as Error).message}` };
  } finally {
    transport.close();
  }
}

/**
 * `config check --connect`: with the secrets from the environment, asks Slack (auth.test,
 * conversations.info for each route's channel) and the SMTP server whether they will take
 * the gateway's notices.
 */
export async function connectChecks(loaded: LoadedConfig): Promise<ConnectResult[]> {
  const { secrets } = loaded;
  const results: ConnectResult[] = [];
  if (secrets.slackBotToken === null)
    results.push({ item: "slack token", outcome: "skip", detail: "SLACK_BOT_TOKEN is not set" });
  else results.push(...(await checkSlack(loaded, secrets.slackBotToken)));
  if (secrets.smtpUrl === null)
    results.push({ item: "smtp", outcome: "skip", detail: "SMTP_URL is not set" });
  else results.push(await checkSmtp(secrets.smtpUrl, 10_000));
  return results;
}

/** The results as lines, every secret value scrubbed (an SMTP error may quote the URL). */
export function renderConnectResults(results: readonly ConnectResult[], secrets: readonly string[]): string {
  const width = Math.max(...results.map((result) => result.item.length));
  const label = { ok: "ok  ", fail: "FAIL", skip: "skip" } as const;
  const lines = results.map(
    (result) => `  ${label[result.outcome]}  ${result.item.padEnd(width)}  ${result.detail}`,
  );
  let text = ["connections:", ...lines].join("\n");
  for (const secret of secrets) if (secret !== "") text = text.split(secret).join("[REDACTED]");
  return text;
}
