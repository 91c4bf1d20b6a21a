import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sign } from "@octokit/webhooks-methods";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/webhooks");

export const GITHUB_SECRET = "test-github-secret-0123456789";
export const GITLAB_TOKEN = "test-gitlab-token-0123456789";

export function readFixture(path: string): string {
  return readFileSync(join(FIXTURES, path), "utf8");
}

export interface PostResult {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers: Headers;
}

async function post(url: string, body: string | Blob, headers: Record<string, string>): Promise<PostResult> {
  const response = await fetch(url, { method: "POST", body, headers });
  const text = await response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { raw: text };
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Posts a body to /webhooks/github signed the way GitHub signs it (HMAC-SHA256 of the raw bytes). */
export async function postGithub(
  baseUrl: string,
  event: string,
  body: string,
  options: { secret?: string; delivery?: string; headers?: Record<string, string> } = {},
): Promise<PostResult> {
  const signature = await sign(options.secret ?? GITHUB_SECRET, body);
  return post(`${baseUrl}/webhooks/github`, body, {
    "content-type": "application/json",
    "x-github-event": event,
    "x-github-delivery": options.delivery ?? "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "x-hub-signature-256": signature,
    ...options.headers,
  });
}

/** Posts a body to /webhooks/gitlab with the shared token. */
export async function postGitlab(
  baseUrl: string,
  event: string,
  body: string,
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<PostResult> {
  return post(`${baseUrl}/webhooks/gitlab`, body, {
    "content-type": "application/json",
    "x-gitlab-event": event,
    "x-gitlab-token": options.token ?? GITLAB_TOKEN,
    ...options.headers,
  });
}

export { post as postRaw };
