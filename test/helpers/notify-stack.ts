import { startTestGateway, type TestGateway } from "./gateway.ts";
import { startSlackServer, type SlackServer } from "./slack-server.ts";
import { startSmtpSink, type SmtpSink } from "./smtp-sink.ts";

export interface NotifyStack {
  readonly slack: SlackServer;
  readonly smtp: SmtpSink;
  readonly gateway: TestGateway;
}

/**
 * The whole gateway with both notice channels on: Slack against a local Web API server and
 * e-mail into an SMTP sink, each private to the caller. `overrides` are the gateway's config
 * overrides (routes, people, notify timings); the Slack API URL comes from the environment.
 */
export async function startNotifyStack(overrides: Record<string, unknown>): Promise<NotifyStack> {
  const slack = await startSlackServer();
  const smtp = await startSmtpSink();
  const gateway = await startTestGateway({
    env: { SLACK_BOT_TOKEN: "xoxb-test", SLACK_API_URL: slack.apiUrl, SMTP_URL: smtp.url },
    overrides,
  });
  return { slack, smtp, gateway };
}

export async function closeNotifyStack(stack: NotifyStack): Promise<void> {
  await stack.gateway.close();
  await stack.slack.close();
  await stack.smtp.close();
}
