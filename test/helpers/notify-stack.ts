import { startTestGateway, type TestGateway } from "./gateway.ts";
import { eventually, sleep } from "./poll.ts";
import { startSlackServer, type SlackCall, type SlackServer } from "./slack-server.ts";
import { startSmtpSink, type SinkMail, type SmtpSink } from "./smtp-sink.ts";

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

/**
 * One case's notices, once they are all in: waits for at least `messages` Slack calls to its
 * channel and a mail to its address, then until a second passes with no further call (a
 * later update would come within the stack's Slack minInterval of the last call).
 */
export async function settledNotices(
  stack: Pick<NotifyStack, "slack" | "smtp">,
  kase: {
    readonly name: string;
    readonly channel: string;
    readonly address: string;
    readonly messages: number;
  },
): Promise<{ calls: SlackCall[]; mail: SinkMail }> {
  const calls = (): SlackCall[] =>
    stack.slack.accepted().filter((call) => call.args["channel"] === kase.channel);
  await eventually(() => calls().length >= kase.messages, `${kase.name}: ${kase.messages} Slack call(s)`);
  const mail = await eventually(
    () => stack.smtp.mails.find((sent) => sent.envelopeTo.includes(kase.address)),
    `${kase.name}: the mail`,
  );
  let count = -1;
  while (count !== calls().length) {
    count = calls().length;
    await sleep(1000);
  }
  return { calls: calls(), mail };
}
