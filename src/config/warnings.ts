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
