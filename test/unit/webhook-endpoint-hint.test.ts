import assert from "node:assert/strict";
import { test } from "node:test";
import { checkGithubHeaders } from "../../src/ingress/github.ts";
import { checkGitlabHeaders } from "../../src/ingress/gitlab.ts";
import { HttpError } from "../../src/ingress/http-error.ts";

/** What a header check refuses the request with. */
function refusal(check: () => void): HttpError {
  try {
    check();
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  assert.fail("the request was let through");
}

const headers =
  (values: Record<string, string>) =>
  (name: string): string | undefined =>
    values[name];

const GITLAB_HOOK = { "x-gitlab-event": "Pipeline Hook", "x-gitlab-token": "the-gitlab-token" };
const GITHUB_HOOK = { "x-github-event": "workflow_run", "x-hub-signature-256": `sha256=${"ab".repeat(32)}` };

test("a GitLab webhook sent to /webhooks/github is told to go to /webhooks/gitlab, whichever check refuses it", () => {
  const secrets = { githubWebhookSecrets: ["gh-secret"] };
  const cases = [
    {
      status: 415,
      code: "unsupported_media_type",
      values: { ...GITLAB_HOOK, "content-type": "text/plain" },
      secrets,
    },
    {
      status: 401,
      code: "not_configured",
      values: { ...GITLAB_HOOK, "content-type": "application/json" },
      secrets: { githubWebhookSecrets: [] },
    },
    {
      status: 401,
      code: "missing_signature",
      values: { ...GITLAB_HOOK, "content-type": "application/json" },
      secrets,
    },
  ];
  for (const { status, code, values, secrets: configured } of cases) {
    const error = refusal(() => checkGithubHeaders(headers(values), configured));
    assert.equal(error.status, status, code);
    assert.equal(error.code, code);
    assert.match(
      error.message,
      /looks like a GitLab webhook \(it has X-Gitlab-Event\): send it to \/webhooks\/gitlab$/,
    );
    assert.doesNotMatch(error.message, /the-gitlab-token|gh-secret/);
  }
});

test("a GitHub webhook sent to /webhooks/gitlab is told to go to /webhooks/github, whichever check refuses it", () => {
  const secrets = { gitlabWebhookTokens: ["gl-token"] };
  const cases = [
    // GitHub's default content type when a webhook is created
    {
      status: 415,
      code: "unsupported_media_type",
      values: { ...GITHUB_HOOK, "content-type": "application/x-www-form-urlencoded" },
      secrets,
    },
    {
      status: 401,
      code: "not_configured",
      values: { ...GITHUB_HOOK, "content-type": "application/json" },
      secrets: { gitlabWebhookTokens: [] },
    },
    {
      status: 401,
      code: "missing_token",
      values: { ...GITHUB_HOOK, "content-type": "application/json" },
      secrets,
    },
  ];
  for (const { status, code, values, secrets: configured } of cases) {
    const error = refusal(() => checkGitlabHeaders(headers(values), configured));
    assert.equal(error.status, status, code);
    assert.equal(error.code, code);
    assert.match(
      error.message,
      /looks like a GitHub webhook \(it has X-GitHub-Event\): send it to \/webhooks\/github$/,
    );
    assert.doesNotMatch(error.message, /gl-token|abab/);
  }
});

test("a webhook without its secret is told where the provider takes one, and no hint about the other endpoint", () => {
  // a webhook created with the secret field left empty: GitHub then sends no signature,
  // GitLab no token
  const json = { "content-type": "application/json" };
  const github = refusal(() =>
    checkGithubHeaders(headers({ ...json, "x-github-event": "workflow_run" }), {
      githubWebhookSecrets: ["s"],
    }),
  );
  assert.equal(
    github.message,
    "the X-Hub-Signature-256 header is missing: give the webhook a secret at GitHub, the value of GITHUB_WEBHOOK_SECRET",
  );
  // a sender that signs with SHA-1 only did set a secret: it is told what is missing instead
  const sha1 = refusal(() =>
    checkGithubHeaders(
      headers({ ...json, "x-github-event": "ping", "x-hub-signature": `sha1=${"ab".repeat(20)}` }),
      { githubWebhookSecrets: ["s"] },
    ),
  );
  assert.equal(
    sha1.message,
    "the X-Hub-Signature-256 header is missing: only the SHA-1 X-Hub-Signature came, and buildcast verifies the SHA-256 one",
  );
  const gitlab = refusal(() =>
    checkGitlabHeaders(headers({ ...json, "x-gitlab-event": "Pipeline Hook" }), {
      gitlabWebhookTokens: ["t"],
    }),
  );
  assert.equal(
    gitlab.message,
    "the X-Gitlab-Token header is missing: give the webhook a secret token in GitLab, the value of GITLAB_WEBHOOK_TOKEN",
  );
});
