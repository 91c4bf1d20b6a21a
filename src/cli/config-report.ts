import { redactUrl } from "../bus/connect.ts";
import type { LoadedConfig } from "../config/load.ts";
import type { Route } from "../config/schema.ts";
import { ingressWarnings, routeWarnings, webhookSecretWarnings } from "../config/warnings.ts";

export interface RouteRow {
  readonly name: string;
  readonly match: string;
  readonly on: string;
  readonly slack: string;
  readonly email: string;
}

export interface ChannelState {
  readonly channel: "slack" | "email";
  readonly enabled: boolean;
  /** the variable that turns the channel on; its value is never shown */
  readonly variable: "SLACK_BOT_TOKEN" | "SMTP_URL";
}

export interface ConfigReport {
  readonly summary: ReadonlyArray<readonly [string, string]>;
  readonly routes: readonly RouteRow[];
  readonly channels: readonly ChannelState[];
  readonly warnings: readonly string[];
}

function describeMatch(route: Route): string {
  const { repositories, branches, tags, pipelines, providers, kinds } = route.match;
  const parts = [
    repositories ? `repositories ${repositories.join(", ")}` : null,
    branches ? `branches ${branches.join(", ")}` : null,
    tags ? `tags ${tags.join(", ")}` : null,
    pipelines ? `pipelines ${pipelines.join(", ")}` : null,
    providers ? `providers ${providers.join(", ")}` : null,
    `kinds ${kinds.join(", ")}`,
  ];
  return parts.filter((part): part is string => part !== null).join("; ");
}

function describeEmail(route: Route): string {
  if (!route.email) return "—";
  const targets = [...route.email.to, ...(route.email.author ? ["commit author"] : [])];
  return targets.length > 0 ? targets.join(", ") : "(nobody)";
}

const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/** What `config check` prints for a valid config; secrets appear only as set / not set. */
export function configReport(loaded: LoadedConfig): ConfigReport {
  const { config, secrets } = loaded;
  const channels: ChannelState[] = [
    { channel: "slack", enabled: secrets.slackBotToken !== null, variable: "SLACK_BOT_TOKEN" },
    { channel: "email", enabled: secrets.smtpUrl !== null, variable: "SMTP_URL" },
  ];
  const warnings: string[] = [];
  for (const route of config.routes) {
    if (route.slack && secrets.slackBotToken === null) {
      warnings.push(
        `route "${route.name}" sends to Slack, but SLACK_BOT_TOKEN is not set: its Slack notices are off`,
      );
    }
    if (route.email && secrets.smtpUrl === null) {
      warnings.push(`route "${route.name}" sends e-mail, but SMTP_URL is not set: its e-mails are off`);
    }
  }
  warnings.push(...routeWarnings(config, secrets));
  warnings.push(...ingressWarnings(config));
  warnings.push(...webhookSecretWarnings(secrets));
  if (secrets.githubWebhookSecrets.length === 0) {
    warnings.push("GITHUB_WEBHOOK_SECRET is not set: every GitHub webhook will be rejected");
  }
  if (secrets.gitlabWebhookTokens.length === 0) {
    warnings.push("GITLAB_WEBHOOK_TOKEN is not set: every GitLab webhook will be rejected");
  }
  return {
    summary: [
      ["files", loaded.files.join(", ")],
      ["listen", `${config.server.host}:${config.server.port}`],
      ["nats", `${redactUrl(config.nats.url)} (stream ${config.nats.stream.name})`],
      ["redis", redactUrl(config.redis.url)],
      ["routes", count(config.routes.length, "route")],
      ["people", count(config.people.length, "person").replace("persons", "people")],
      ["github secrets", count(secrets.githubWebhookSecrets.length, "value")],
      ["gitlab tokens", count(secrets.gitlabWebhookTokens.length, "value")],
    ],
    routes: config.routes.map((route) => ({
      name: route.name,
      match: describeMatch(route),
      on: route.on.join(", "),
      slack: route.slack?.channel ?? "—",
      email: describeEmail(route),
    })),
    channels,
    warnings,
  };
}
