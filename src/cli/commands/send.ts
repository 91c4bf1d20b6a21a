import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { sign } from "@octokit/webhooks-methods";
import { Option, type Command } from "commander";
import { redactUrl } from "../../bus/connect.ts";
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

/**
 * The gateway's base URL without the user and password it may carry (a proxy asking for basic
 * auth), which fetch refuses and which must not be printed: they go in an Authorization
 * header, as GitHub sends them for a payload URL https://user:password@….
 */
function gatewayUrl(text: string): { readonly base: string; readonly headers: Record<string, string> } {
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:"))
    throw new Error(`--url "${redactUrl(text)}" is not an http(s) URL such as http://localhost:3000`);
  const headers: Record<string, string> = {};
  if (url.username !== "" || url.password !== "") {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
    url.username = "";
    url.password = "";
  }
  return { base: url.toString().replace(/\/+$/, ""), headers };
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
  const { base, headers: auth } = gatewayUrl(options.url);
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
        ...auth,
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
      ...auth,
    },
  };
}

/** GitHub gives a payload URL 10 s to answer, GitLab 10 s by default; a gateway answers well within them. */
const ANSWER_TIMEOUT_MS = 10_000;

async function send(fixture: string, options: SendOptions): Promise<number> {
  const request = await buildSendRequest(readFileSync(fixture), options);
  const event = request.headers["x-github-event"] ?? request.headers["x-gitlab-event"] ?? "?";
  let response: Response;
  let text: string;
  try {
    // without a limit, a port that takes the connection and never answers holds the command for ever
    const signal = AbortSignal.timeout(ANSWER_TIMEOUT_MS);
    response = await fetch(request.url, {
      method: "POST",
      headers: request.headers,
      body: new Uint8Array(request.body),
      signal,
    });
    text = await response.text();
  } catch (error) {
    if ((error as Error).name === "TimeoutError") {
      console.error(
        `POST ${request.url}: no answer within ${ANSWER_TIMEOUT_MS / 1000} s (GitHub and GitLab give up then too); ` +
          "is the gateway stuck, or is --url another service's port?",
      );
      return 2;
    }
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    console.error(
      `POST ${request.url} failed: ${cause}; is a gateway listening there? Point --url at it (default http://localhost:3000)`,
    );
    return 2;
  }
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
    .option(
      "-u, --url <url>",
      "the gateway's base URL; a user:password@ in it is sent as basic auth, as GitHub does",
      "http://localhost:3000",
    )
    .option(
      "-s, --secret <value>",
      "GitHub secret or GitLab token (default: the first value of GITHUB_WEBHOOK_SECRET / GITLAB_WEBHOOK_TOKEN; prefer the environment, arguments show in ps)",
    )
    .option("-d, --delivery <id>", "delivery id header (default: a random UUID)")
    .addHelpText(
      "after",
      "\nExit status: 0 on a 2xx answer, 1 on any other answer or a mistake in the command (no secret,\n" +
        "a fixture that is not JSON, a --url that is not http(s)), 2 when the gateway cannot be reached\n" +
        "or does not answer within 10 s.\n" +
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
