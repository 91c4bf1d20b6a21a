import type { Config, Secrets } from "./schema.ts";

/** Public, private (legacy G…) and direct-message channel ids; a name such as #builds is not one. */
export const SLACK_CHANNEL_ID = /^[CGD][A-Z0-9]{6,}$/;

/**
 * Settings that are valid but will not do what they seem to: a channel turned on that no route
 * uses, a Slack channel named instead of its id, an e-mail target with nobody to mail, a route
 * name used twice. `config check` prints them, and the gateway logs them when it starts its
 * notifiers. Secrets appear only as set / not set.
 */
export function routeWarnings(config: Config, secrets: Secrets): string[] {
  const warnings: string[] = [];
  for (const route of config.routes) {
    if (route.slack && !SLACK_CHANNEL_ID.test(route.slack.channel)) {
      warnings.push(
        `route "${route.name}" names Slack channel "${route.slack.channel}", not its id (C…, in the channel's details): ` +
          "a message whose post was cut short cannot be found again and may be posted twice",
      );
    }
    if (route.email && route.email.to.length === 0 && !route.email.author) {
      warnings.push(`route "${route.name}" has an email target with no recipients and author: false`);
    }
  }
  if (secrets.slackBotToken !== null && !config.routes.some((route) => route.slack)) {
    warnings.push(
      "SLACK_BOT_TOKEN is set, but no route sends to Slack: add slack: { channel: C… } to a route",
    );
  }
  if (secrets.smtpUrl !== null && !config.routes.some((route) => route.email)) {
    warnings.push("SMTP_URL is set, but no route sends e-mail: add email: { to: [...] } to a route");
  }
  const names = config.routes.map((route) => route.name);
  for (const name of new Set(names.filter((name, i) => names.indexOf(name) !== i))) {
    warnings.push(`route name "${name}" is used more than once`);
  }
  return warnings;
}

/** How long GitHub waits for a webhook's answer (GitLab's default is the same) before it counts a failure. */
export const PROVIDER_ANSWER_LIMIT_MS = 10_000;

/**
 * Settings of the webhook path that are valid but work against the senders: a webhook waits
 * up to `nats.publishTimeout` for JetStream's ack before it is spooled, so a timeout at or
 * past the providers' 10 s has GitHub record a delivery as failed (and GitLab count it
 * towards disabling the hook) although buildcast goes on to store it.
 */
export function ingressWarnings(config: Config): string[] {
  const timeout = config.nats.publishTimeout;
  if (timeout < PROVIDER_ANSWER_LIMIT_MS) return [];
  return [
    `nats.publishTimeout is ${timeout} ms: GitHub and GitLab give up on a webhook after 10 s, so one that waits ` +
      "that long for JetStream is recorded there as a failed delivery although buildcast then spools and stores it; " +
      "keep it well under 10s (the default is 5s)",
  ];
}

/** Shorter than this, a value next to others in a webhook secret list is taken for a split secret. */
const SHORT_SECRET = 16;

/**
 * GITHUB_WEBHOOK_SECRET and GITLAB_WEBHOOK_TOKEN hold comma-separated values, each accepted
 * alone (a rotation has two). A generated secret that holds a comma becomes several, some of
 * them short enough to guess within the webhook rate limit: anyone who does can send webhooks.
 * Said by position and length, never the value.
 */
export function webhookSecretWarnings(secrets: Secrets): string[] {
  const lists: ReadonlyArray<readonly [string, readonly string[]]> = [
    ["GITHUB_WEBHOOK_SECRET", secrets.githubWebhookSecrets],
    ["GITLAB_WEBHOOK_TOKEN", secrets.gitlabWebhookTokens],
  ];
  const warnings: string[] = [];
  for (const [variable, values] of lists) {
    if (values.length < 2) continue;
    const short = values.findIndex((value) => value.length < SHORT_SECRET);
    if (short < 0) continue;
    warnings.push(
      `${variable} holds ${values.length} comma-separated values, and value ${short + 1} is ${values[short]?.length} characters: ` +
        "each value is accepted alone, and one that short can be guessed. Values are separated at commas " +
        "(to rotate, old,new): a secret that contains a comma is split, so choose one without",
    );
  }
  return warnings;
}
