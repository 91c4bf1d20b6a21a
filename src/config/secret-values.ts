import { urlCredentials } from "../observability/logger.ts";
import type { LoadedConfig } from "./load.ts";

/** Every secret string the process knows, so the logger can scrub them from any line. */
export function secretValues(loaded: Pick<LoadedConfig, "config" | "secrets">): string[] {
  const { secrets, config } = loaded;
  return [
    ...secrets.githubWebhookSecrets,
    ...secrets.gitlabWebhookTokens,
    ...[secrets.slackBotToken, secrets.smtpUrl, secrets.apiToken].filter((s): s is string => s !== null),
    ...urlCredentials(secrets.smtpUrl),
    ...urlCredentials(config.nats.url),
    ...urlCredentials(config.redis.url),
  ];
}
