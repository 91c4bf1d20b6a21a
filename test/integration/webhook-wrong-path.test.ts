import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { GITLAB_TOKEN, readFixture } from "../helpers/webhooks.ts";

let gateway: TestGateway;
before(async () => {
  gateway = await startTestGateway();
});
after(async () => {
  await gateway.close();
});

const RUN = readFixture("github/workflow_run.completed.2.json");
const PIPELINE = readFixture("gitlab/pipeline.doc.1.json");
const github = {
  "content-type": "application/json",
  "x-github-event": "workflow_run",
  "x-hub-signature-256": "sha256=00",
};
const gitlab = {
  "content-type": "application/json",
  "x-gitlab-event": "Pipeline Hook",
  "x-gitlab-token": GITLAB_TOKEN,
};

/** What the gateway answers, as a CI system sees it: redirects are not followed. */
async function answer(path: string, headers: Record<string, string>, body: string) {
  const response = await fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers,
    body,
    redirect: "manual",
  });
  const text = await response.text();
  return { status: response.status, text };
}

test("a webhook whose URL lacks the /webhooks/<provider> path is told the path, not redirected to the dashboard", async () => {
  // a payload URL of just the host is the usual slip; POST / is the dashboard's sign-in form,
  // which answered 303 See Other, a failed delivery on GitHub's and GitLab's pages that says nothing
  for (const [path, headers, body, endpoint] of [
    ["/", github, RUN, "/webhooks/github"],
    ["/", gitlab, PIPELINE, "/webhooks/gitlab"],
    ["/webhook/github", github, RUN, "/webhooks/github"],
    ["/api/v1/status", gitlab, PIPELINE, "/webhooks/gitlab"],
  ] as const) {
    const { status, text } = await answer(path, headers, body);
    assert.equal(status, 404, `POST ${path}: ${text}`);
    const json = JSON.parse(text) as { error: string; message: string };
    assert.equal(json.error, "not_found");
    assert.equal(json.message, `no webhook endpoint at POST ${path}: send this webhook to ${endpoint}`);
    assert.doesNotMatch(json.message, new RegExp(GITLAB_TOKEN));
  }
});

test("a POST without a provider's event header is left to the routes as before (the dashboard's sign-in)", async () => {
  const { status } = await answer("/", { "content-type": "application/x-www-form-urlencoded" }, "token=x");
  assert.equal(status, 303);
});
