import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { sign } from "@octokit/webhooks-methods";
import { Option, type Command } from "commander";
import { readSecrets } from "../../config/load.ts";
import { inferWebhook, type Provider } from "../infer-webhook.ts";

interface SendOptions {
  readonly event?: string;
  readonly provider?: Provider;
  readonly url: string;
  readonly secret?: string;
  readonly delivery?: string;
}

export interface SendRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** The exact request a provider would send; the body stays the file's raw bytes (signatures cover bytes). */
export async function buildSendRequest(body: Buffer, options: SendOptions): Promise<SendRequest> {
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new Error(`the fixture is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const guess = inferWebhook(payload);
  const provider = options.provider ?? guess.provider;
  if (provider === null)
    throw new Error("cannot tell the provider from the fixture; pass --provider github|gitlab");
  const event = options.event ?? (provider === guess.provider ? guess.event : null);
  if (event === null) throw new Error("cannot tell the event from the fixture; pass --event <name>");
  const secrets = readSecrets(process.env);
  const base = options.url.replace(/\/+$/, "");
  if (provider === "github") {
    const secret = options.secret ?? secrets.githubWebhookSecrets[0];
    if (secret === undefined) throw new Error("no secret: set GITHUB_WEBHOOK_SECRET or pass --secret");
    return {
      url: `${base}/webhooks/github`,
      body,
      headers: {
        "content-type": "application/json",
        "user-agent": "buildcast-cli",
        "x-github-event": event,
        "x-github-delivery": options.delivery ?? randomUUID(),
        "x-hub-signature-256": await sign(secret, body.toString("utf8")),
      },
    };
  }
  const token = options.secret ?? secrets.gitlabWebhookTokens[0];
  if (token === undefined) throw new Error("no token: set GITLAB_WEBHOOK_TOKEN or pass --secret");
  return {
    url: `${base}/webhooks/gitlab`,
    body,
    headers: {
      "content-type": "application/json",
      "user-agent": "buildcast-cli",
      "x-gitlab-event": event,
      "x-gitlab-token": token,
      "x-gitlab-event-uuid": options.delivery ?? randomUUID(),
    },
  };
}

async function send(fixture: string, options: SendOptions): Promise<number> {
  const request = await buildSendRequest(readFileSync(fixture), options);
  const event = request.headers["x-github-event"] ?? request.headers["x-gitlab-event"] ?? "?";
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: "POST",
      headers: request.headers,
      body: new Uint8Array(request.body),
    });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    console.error(`POST ${request.url} failed: ${cause}`);
    return 2;
  }
  const text = await response.text();
  console.log(`POST ${request.url} (${event}) → ${response.status} ${response.statusText}`);
  try {
    console.log(JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    if (text.length > 0) console.log(text);
  }
  return response.ok ? 0 : 1;
}

export function register(program: Command): void {
  program
    .command("send")
    .argument("<fixture>", "a webhook payload as JSON, sent byte for byte")
    .description("Sign and POST a webhook payload to a gateway, the way GitHub or GitLab would")
    .option(
      "-e, --event <name>",
      "the event header (workflow_run, Pipeline Hook, …); inferred from the payload if omitted",
    )
    .addOption(
      new Option("-p, --provider <provider>", "inferred from the payload if omitted").choices([
        "github",
        "gitlab",
      ]),
    )
    .option("-u, --url <url>", "the gateway's base URL", "http://localhost:3000")
    .option(
      "-s, --secret <value>",
      "GitHub secret or GitLab token (default: the first value of GITHUB_WEBHOOK_SECRET / GITLAB_WEBHOOK_TOKEN; prefer the environment, arguments show in ps)",
    )
    .option("-d, --delivery <id>", "delivery id header (default: a random UUID)")
    .addHelpText(
      "after",
      "\nExit status: 0 on a 2xx answer, 1 on any other answer, 2 when the gateway cannot be reached.\n" +
        "Example: buildcast send test/fixtures/webhooks/github/workflow_run.completed.1.json --event workflow_run",
    )
    .action(async (fixture: string, options: SendOptions) => {
      try {
        process.exitCode = await send(fixture, options);
      } catch (error) {
        console.error(`send: ${(error as Error).message}`);
        process.exitCode = 1;
      }
    });
}
