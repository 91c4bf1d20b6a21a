import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { connect, type AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type { JetStreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../../src/config/load.ts";
import { parseBuildEvent } from "../../src/events/build-event.ts";
import { MAX_TITLE_LENGTH } from "../../src/normalize/first-line.ts";
import { WEBHOOK_ANSWER_HEADERS, createApp } from "../../src/ingress/app.ts";
import { listenHttp } from "../../src/ingress/listen.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { startIngress, type IngressHarness } from "../helpers/ingress.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";
import {
  GITHUB_SECRET,
  GITLAB_TOKEN,
  postGithub,
  postGitlab,
  postRaw,
  readFixture,
  type PostResult,
} from "../helpers/webhooks.ts";

const RUN = readFixture("github/workflow_run.completed.2.json");
const PIPELINE = readFixture("gitlab/pipeline.doc.1.json");
const DEEP_OBJECT = '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000);
const DEEP_ARRAY = "[".repeat(10_000) + "]".repeat(10_000);
const THIRTY_MB = 30 * 1024 * 1024;
/** `{"a":"` + 0xFF 0xFE + `"}`: bytes no UTF-8 decoder accepts */
const INVALID_UTF8 = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);

/** X-Hub-Signature-256 over exact bytes, for bodies a string cannot carry (empty, invalid UTF-8, BOM). */
function signBytes(body: string | Uint8Array, secret = GITHUB_SECRET): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

function githubHeaders(event: string, signature: string): Record<string, string> {
  return { "content-type": "application/json", "x-github-event": event, "x-hub-signature-256": signature };
}

function gitlabHeaders(event: string): Record<string, string> {
  return { "content-type": "application/json", "x-gitlab-event": event, "x-gitlab-token": GITLAB_TOKEN };
}

/** A JSON literal spliced in where a JSON value cannot hold it (1e400 parses to Infinity). */
function withLiteral(
  json: string,
  set: (payload: Record<string, Record<string, unknown>>) => void,
  literal: string,
): string {
  const payload = JSON.parse(json) as Record<string, Record<string, unknown>>;
  set(payload);
  return JSON.stringify(payload).replace('"__LITERAL__"', literal);
}

const githubRunId = (literal: string): string =>
  withLiteral(RUN, (p) => void (p["workflow_run"]!["id"] = "__LITERAL__"), literal);
const gitlabPipelineId = (literal: string): string =>
  withLiteral(PIPELINE, (p) => void (p["object_attributes"]!["id"] = "__LITERAL__"), literal);

interface Rejected {
  readonly name: string;
  readonly send: (base: string) => Promise<PostResult>;
  readonly status: number;
  readonly error: string;
  /** what the sender must be told to fix it */
  readonly message: RegExp;
}

const GH = (base: string): string => `${base}/webhooks/github`;
const GL = (base: string): string => `${base}/webhooks/gitlab`;

const REJECTED: readonly Rejected[] = [
  // --- GitHub: authentication
  {
    name: "github: no signature",
    send: (base) =>
      postRaw(GH(base), RUN, { "content-type": "application/json", "x-github-event": "workflow_run" }),
    status: 401,
    error: "missing_signature",
    message: /X-Hub-Signature-256 header is missing/,
  },
  {
    // the first hour's usual slip: GitLab's hook URL pasted with /webhooks/github
    name: "github: a GitLab webhook sent to the GitHub endpoint",
    send: (base) => postRaw(GH(base), PIPELINE, gitlabHeaders("Pipeline Hook")),
    status: 401,
    error: "missing_signature",
    message: /looks like a GitLab webhook \(it has X-Gitlab-Event\): send it to \/webhooks\/gitlab/,
  },
  {
    name: "github: signature made with another secret",
    send: (base) => postGithub(base, "workflow_run", RUN, { secret: "not-the-secret" }),
    status: 401,
    error: "invalid_signature",
    // what to fix, named by the variable, never by a value
    message:
      /^X-Hub-Signature-256 does not match the body for any configured secret: the webhook's secret at GitHub must be GITHUB_WEBHOOK_SECRET \(or one of its comma-separated values\), and the body must arrive unchanged$/,
  },
  {
    name: "github: signature of a different body",
    send: (base) =>
      postRaw(GH(base), RUN, githubHeaders("workflow_run", signBytes(RUN.replace("master", "main")))),
    status: 401,
    error: "invalid_signature",
    message: /does not match the body/,
  },
  {
    name: "github: legacy sha1 signature only",
    send: (base) =>
      postRaw(
        GH(base),
        RUN,
        githubHeaders("workflow_run", `sha1=${createHmac("sha1", GITHUB_SECRET).update(RUN).digest("hex")}`),
      ),
    status: 401,
    error: "invalid_signature",
    message: /X-Hub-Signature-256/,
  },
  {
    name: "github: signature that is not hex",
    send: (base) => postRaw(GH(base), RUN, githubHeaders("workflow_run", `sha256=${"z".repeat(64)}`)),
    status: 401,
    error: "invalid_signature",
    message: /is not sha256= and 64 hex digits/,
  },
  {
    name: "github: signature over the body without its byte order mark",
    send: (base) => postRaw(GH(base), `\uFEFF${RUN}`, githubHeaders("workflow_run", signBytes(RUN))),
    status: 401,
    error: "invalid_signature",
    message: /does not match the body/,
  },
  // --- GitHub: headers that lie about a correctly signed body
  {
    name: "github: valid signature, X-GitHub-Event changed to workflow_job on a workflow_run body",
    send: (base) => postGithub(base, "workflow_job", RUN),
    status: 400,
    error: "invalid_payload",
    message: /not the "workflow_job" event that X-GitHub-Event claims: workflow_job must be an object/,
  },
  {
    name: "github: valid signature, X-GitHub-Event check_run on a workflow_run body",
    send: (base) => postGithub(base, "check_run", RUN),
    status: 400,
    error: "invalid_payload",
    message: /not the "check_run" event/,
  },
  {
    name: "github: valid signature, X-GitHub-Event status on a workflow_run body",
    send: (base) => postGithub(base, "status", RUN),
    status: 400,
    error: "invalid_payload",
    message: /not the "status" event.*status\.sha/,
  },
  {
    name: "github: no X-GitHub-Event",
    send: (base) =>
      postRaw(GH(base), RUN, { "content-type": "application/json", "x-hub-signature-256": signBytes(RUN) }),
    status: 400,
    error: "missing_event",
    message: /X-GitHub-Event header is missing/,
  },
  // --- GitHub: bodies
  {
    name: "github: empty body with the signature of an empty body",
    send: (base) => postRaw(GH(base), "", githubHeaders("workflow_run", signBytes(""))),
    status: 400,
    error: "empty_body",
    message: /body is empty/,
  },
  {
    name: "github: invalid UTF-8, correctly signed",
    send: (base) =>
      postRaw(GH(base), new Blob([INVALID_UTF8]), githubHeaders("workflow_run", signBytes(INVALID_UTF8))),
    status: 400,
    error: "invalid_encoding",
    message: /not valid UTF-8/,
  },
  {
    name: "github: not JSON",
    send: (base) => postGithub(base, "workflow_run", "<xml>hello</xml>"),
    status: 400,
    error: "malformed_json",
    message: /not valid JSON/,
  },
  {
    name: "github: a JSON array",
    send: (base) => postGithub(base, "workflow_run", "[1,2,3]"),
    status: 400,
    error: "invalid_payload",
    message: /must be a JSON object/,
  },
  {
    name: "github: JSON null",
    send: (base) => postGithub(base, "workflow_run", "null"),
    status: 400,
    error: "invalid_payload",
    message: /must be a JSON object/,
  },
  {
    name: "github: 10,000 levels of nested objects",
    send: (base) => postGithub(base, "workflow_run", DEEP_OBJECT),
    status: 400,
    error: "invalid_payload",
    message: /workflow_run must be an object/,
  },
  {
    name: "github: 10,000 levels of nested arrays",
    send: (base) => postGithub(base, "workflow_run", DEEP_ARRAY),
    status: 400,
    error: "invalid_payload",
    message: /must be a JSON object/,
  },
  {
    name: "github: 30 MB body (limit 25 MB)",
    send: (base) => postGithub(base, "workflow_run", `{"pad":"${"x".repeat(THIRTY_MB)}"}`),
    status: 413,
    error: "payload_too_large",
    message: /exceeds the limit of 26214400 bytes/,
  },
  {
    name: "github: text/plain",
    send: (base) => postGithub(base, "workflow_run", RUN, { headers: { "content-type": "text/plain" } }),
    status: 415,
    error: "unsupported_media_type",
    message: /must be application\/json or application\/x-www-form-urlencoded \(got "text\/plain"\)/,
  },
  {
    name: "github: no content type at all",
    send: (base) =>
      postRaw(GH(base), new Blob([RUN]), {
        "x-github-event": "workflow_run",
        "x-hub-signature-256": signBytes(RUN),
      }),
    status: 415,
    error: "unsupported_media_type",
    message: /got "none"/,
  },
  {
    name: "github: gzip Content-Encoding",
    send: (base) => postGithub(base, "workflow_run", RUN, { headers: { "content-encoding": "gzip" } }),
    status: 415,
    error: "unsupported_encoding",
    message: /Content-Encoding "gzip" is not accepted/,
  },
  {
    name: "github: form-encoded without a payload field",
    send: (base) =>
      postGithub(base, "workflow_run", "other=1", {
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
    status: 400,
    error: "invalid_payload",
    message: /without a payload field/,
  },
  // --- GitHub: huge numbers
  ...["1e400", "-1e400", "123456789012345678901234567890", "9007199254740993", "1.5"].map(
    (literal): Rejected => ({
      name: `github: workflow_run.id ${literal}`,
      send: (base) => postGithub(base, "workflow_run", githubRunId(literal)),
      status: 400,
      error: "invalid_payload",
      message: /workflow_run\.id must be an integer or a non-empty string/,
    }),
  ),
  // --- GitLab: authentication
  {
    name: "gitlab: no token",
    send: (base) =>
      postRaw(GL(base), PIPELINE, { "content-type": "application/json", "x-gitlab-event": "Pipeline Hook" }),
    status: 401,
    error: "missing_token",
    message: /X-Gitlab-Token header is missing/,
  },
  {
    name: "gitlab: a GitHub webhook sent to the GitLab endpoint",
    send: (base) => postRaw(GL(base), RUN, githubHeaders("workflow_run", signBytes(RUN))),
    status: 401,
    error: "missing_token",
    message: /looks like a GitHub webhook \(it has X-GitHub-Event\): send it to \/webhooks\/github/,
  },
  {
    name: "gitlab: wrong token",
    send: (base) => postGitlab(base, "Pipeline Hook", PIPELINE, { token: "not-the-token" }),
    status: 401,
    error: "invalid_token",
    message:
      /^X-Gitlab-Token does not match any configured token: the webhook's secret token in GitLab must be GITLAB_WEBHOOK_TOKEN \(or one of its comma-separated values\)$/,
  },
  {
    name: "gitlab: the token with one more character",
    send: (base) => postGitlab(base, "Pipeline Hook", PIPELINE, { token: `${GITLAB_TOKEN}x` }),
    status: 401,
    error: "invalid_token",
    message: /does not match/,
  },
  {
    name: "gitlab: the token in upper case",
    send: (base) => postGitlab(base, "Pipeline Hook", PIPELINE, { token: GITLAB_TOKEN.toUpperCase() }),
    status: 401,
    error: "invalid_token",
    message: /does not match/,
  },
  {
    name: "gitlab: GitHub's signature instead of a token",
    send: (base) =>
      postRaw(GL(base), PIPELINE, {
        "content-type": "application/json",
        "x-gitlab-event": "Pipeline Hook",
        "x-hub-signature-256": signBytes(PIPELINE),
      }),
    status: 401,
    error: "missing_token",
    message: /X-Gitlab-Token/,
  },
  // --- GitLab: headers that lie
  {
    name: "gitlab: Job Hook header on a pipeline body",
    send: (base) => postGitlab(base, "Job Hook", PIPELINE),
    status: 400,
    error: "invalid_payload",
    message: /X-Gitlab-Event "Job Hook" does not match object_kind "pipeline"/,
  },
  {
    name: "gitlab: Deployment Hook header on a pipeline body",
    send: (base) => postGitlab(base, "Deployment Hook", PIPELINE),
    status: 400,
    error: "invalid_payload",
    message: /does not match object_kind "pipeline"/,
  },
  {
    name: "gitlab: no X-Gitlab-Event",
    send: (base) =>
      postRaw(GL(base), PIPELINE, { "content-type": "application/json", "x-gitlab-token": GITLAB_TOKEN }),
    status: 400,
    error: "missing_event",
    message: /X-Gitlab-Event header is missing/,
  },
  // --- GitLab: bodies
  {
    name: "gitlab: empty body",
    send: (base) => postGitlab(base, "Pipeline Hook", ""),
    status: 400,
    error: "empty_body",
    message: /body is empty/,
  },
  {
    name: "gitlab: whitespace only",
    send: (base) => postGitlab(base, "Pipeline Hook", " \n\t "),
    status: 400,
    error: "empty_body",
    message: /body is empty/,
  },
  {
    name: "gitlab: invalid UTF-8",
    send: (base) => postRaw(GL(base), new Blob([INVALID_UTF8]), gitlabHeaders("Pipeline Hook")),
    status: 400,
    error: "invalid_encoding",
    message: /not valid UTF-8/,
  },
  {
    name: "gitlab: not JSON",
    send: (base) => postGitlab(base, "Pipeline Hook", "object_kind=pipeline"),
    status: 400,
    error: "malformed_json",
    message: /not valid JSON/,
  },
  {
    name: "gitlab: truncated JSON",
    send: (base) => postGitlab(base, "Pipeline Hook", PIPELINE.slice(0, PIPELINE.length / 2)),
    status: 400,
    error: "malformed_json",
    message: /not valid JSON/,
  },
  {
    name: "gitlab: a JSON string",
    send: (base) => postGitlab(base, "Pipeline Hook", '"pipeline"'),
    status: 400,
    error: "invalid_payload",
    message: /must be a JSON object/,
  },
  {
    name: "gitlab: 10,000 levels of nested objects",
    send: (base) => postGitlab(base, "Pipeline Hook", DEEP_OBJECT),
    status: 400,
    error: "invalid_payload",
    message: /does not match object_kind \(missing\)/,
  },
  {
    name: "gitlab: 10,000 levels of nested arrays",
    send: (base) => postGitlab(base, "Pipeline Hook", DEEP_ARRAY),
    status: 400,
    error: "invalid_payload",
    message: /must be a JSON object/,
  },
  {
    name: "gitlab: 30 MB body (limit 25 MB)",
    send: (base) => postGitlab(base, "Pipeline Hook", `{"pad":"${"x".repeat(THIRTY_MB)}"}`),
    status: 413,
    error: "payload_too_large",
    message: /exceeds the limit/,
  },
  {
    name: "gitlab: form-encoded",
    send: (base) =>
      postGitlab(base, "Pipeline Hook", `payload=${encodeURIComponent(PIPELINE)}`, {
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
    status: 415,
    error: "unsupported_media_type",
    message: /must be application\/json/,
  },
  {
    name: "gitlab: deflate Content-Encoding",
    send: (base) =>
      postGitlab(base, "Pipeline Hook", PIPELINE, { headers: { "content-encoding": "deflate" } }),
    status: 415,
    error: "unsupported_encoding",
    message: /Content-Encoding "deflate" is not accepted/,
  },
  // --- GitLab: huge numbers
  ...["1e400", "123456789012345678901234567890", "-5", "1.5"].map((literal): Rejected => ({
    name: `gitlab: object_attributes.id ${literal}`,
    send: (base) => postGitlab(base, "Pipeline Hook", gitlabPipelineId(literal)),
    status: 400,
    error: "invalid_payload",
    message: /object_attributes\.id is missing or not an id/,
  })),
];

/** Hostile-looking text that is still a legal value: stored byte for byte, escaped only where it is rendered. */
const ODD_BUT_LEGAL: ReadonlyArray<readonly [string, string]> = [
  ["shell metacharacters", "feat/$(rm -rf ~);`id`|&&>out<in'\"*?"],
  ["HTML", 'fix/<script>alert(1)</script>&amp;<img src=x onerror="x">'],
  ["Slack mention syntax", "<!channel> <@U123|boss> *bold*"],
  ["control characters", "ma\u0000in\u0007\u001b[31m\r\nX-Injected: 1"],
  ["bidi override and lone surrogate", "release/\u202etxt.exe\ud800"],
  ["10,000 characters", "b".repeat(10_000)],
];

async function streamMessages(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info("BUILD_EVENTS")).state.messages;
}

async function assertHealthy(base: string, after: string): Promise<void> {
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200, `healthz after ${after}`);
}

describe("hostile requests to both webhook endpoints", () => {
  let nats: TestServer;
  let ingress: IngressHarness;
  before(async () => {
    nats = await startNats();
    ingress = await startIngress(nats, null, { server: { bodyLimit: "25mb" } });
  });
  after(async () => {
    await ingress.close();
    await nats.dispose();
  });

  for (const hostile of REJECTED) {
    test(`${hostile.name} → ${hostile.status} ${hostile.error}`, async () => {
      const count = await streamMessages(ingress.bus.jsm);
      const result = await hostile.send(ingress.url);
      const shown = JSON.stringify(result.body).slice(0, 500);
      assert.equal(result.status, hostile.status, shown);
      assert.match(result.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(Object.keys(result.body).sort(), ["error", "message"], shown);
      assert.equal(result.body.error, hostile.error, shown);
      assert.match(String(result.body.message), hostile.message);
      assert.ok(String(result.body.message).length < 1000, "the message stays short");
      assert.equal(await streamMessages(ingress.bus.jsm), count, "nothing is published");
      await assertHealthy(ingress.url, hostile.name);
    });
  }

  test("a correctly signed body with a byte order mark is verified over its exact bytes and accepted", async () => {
    const body = `\uFEFF${githubRunId("424242")}`;
    const count = await streamMessages(ingress.bus.jsm);
    const result = await postRaw(GH(ingress.url), body, githubHeaders("workflow_run", signBytes(body)));
    assert.equal(result.status, 202, JSON.stringify(result.body));
    assert.equal(await streamMessages(ingress.bus.jsm), count + 1);
  });

  test("__proto__ keys in a payload are plain data", async () => {
    const body = githubRunId("434343").replace('{"action"', '{"__proto__":{"polluted":true},"action"');
    const result = await postGithub(ingress.url, "workflow_run", body);
    assert.equal(result.status, 202, JSON.stringify(result.body));
    assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
  });

  test("an event nobody handles is acknowledged, whatever its body, and not stored", async () => {
    const count = await streamMessages(ingress.bus.jsm);
    const github = await postGithub(ingress.url, "$(reboot)<script>", DEEP_OBJECT);
    assert.equal(github.status, 202);
    assert.deepEqual(github.body, { ignored: "$(reboot)<script>" });
    const gitlab = await postGitlab(ingress.url, "Nonsense Hook", "{}");
    assert.equal(gitlab.status, 202);
    assert.equal(await streamMessages(ingress.bus.jsm), count);
  });

  ODD_BUT_LEGAL.forEach(([what, text], index) => {
    test(`github: a branch and commit message with ${what} are stored exactly (a title is cut at ${MAX_TITLE_LENGTH})`, async () => {
      const payload = JSON.parse(RUN) as {
        workflow_run: Record<string, unknown>;
        workflow: Record<string, unknown>;
      };
      payload.workflow_run["id"] = 900_000 + index;
      payload.workflow_run["head_branch"] = text;
      (payload.workflow_run["head_commit"] as Record<string, unknown>)["message"] = `${text}\n\nbody`;
      // the run is named after its workflow
      payload.workflow["name"] = text;
      const result = await postGithub(ingress.url, "workflow_run", JSON.stringify(payload));
      assert.equal(result.status, 202, JSON.stringify(result.body));
      const event = await storedEvent(ingress, result);
      assert.equal(event.data.ref.name, text);
      assert.equal(event.data.commit.title, firstLine(text));
      assert.equal(event.data.run.name, text);
      await assertHealthy(ingress.url, what);
    });

    test(`gitlab: a branch and commit message with ${what} are stored exactly (a title is cut at ${MAX_TITLE_LENGTH})`, async () => {
      const payload = JSON.parse(PIPELINE) as Record<string, Record<string, unknown>>;
      payload["object_attributes"]!["id"] = 800_000 + index;
      payload["object_attributes"]!["ref"] = text;
      payload["commit"]!["message"] = text;
      const result = await postGitlab(ingress.url, "Pipeline Hook", JSON.stringify(payload));
      assert.equal(result.status, 202, JSON.stringify(result.body));
      const event = await storedEvent(ingress, result);
      assert.equal(event.data.ref.name, text);
      assert.equal(event.data.commit.title, firstLine(text));
      await assertHealthy(ingress.url, what);
    });
  });
});

/** A commit title is the message's first line, cut to MAX_TITLE_LENGTH with an ellipsis. */
function firstLine(text: string): string {
  const line = text.split(/\r\n|\r|\n/)[0] ?? "";
  return line.length > MAX_TITLE_LENGTH ? `${line.slice(0, MAX_TITLE_LENGTH - 1)}…` : line;
}

/** The event a 202 answer names, read back from the stream and validated. */
async function storedEvent(ingress: IngressHarness, result: PostResult) {
  // the hook's own event is the last one named (a finished GitLab pipeline's jobs come first)
  const answered = (result.body.events as Array<{ id: string; type: string }>).at(-1);
  assert.ok(answered);
  const stored = await ingress.bus.jsm.streams.getMessage("BUILD_EVENTS", { last_by_subj: answered.type });
  assert.ok(stored);
  const event = parseBuildEvent(stored.json());
  assert.equal(event.id, answered.id, "the stored message is the one this request produced");
  return event;
}

/** OWASP's REST API security headers, which every webhook answer carries (app.ts). */
function assertWebhookAnswerHeaders(answer: Headers): void {
  const where = `webhook answer ${JSON.stringify(Object.fromEntries(answer))}`;
  assert.equal(answer.get("x-content-type-options"), "nosniff", where);
  assert.equal(answer.get("content-security-policy"), "default-src 'none'; frame-ancestors 'none'", where);
  assert.equal(answer.get("x-frame-options"), "DENY", where);
  assert.equal(answer.get("cache-control"), "no-store", where);
  assert.match(answer.get("strict-transport-security") ?? "", /max-age=\d+/, where);
  assert.equal(answer.get("x-powered-by"), null, where);
  assert.match(answer.get("content-type") ?? "", /^application\/json/, where);
}

describe("HTTP hardening", () => {
  let nats: TestServer;
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats.dispose();
  });

  test("security headers: helmet's on health, metrics, 404s and 405s; OWASP's API set on webhook answers", async () => {
    const ingress = await startIngress(nats, null);
    try {
      const pages = [
        await fetch(`${ingress.url}/healthz`),
        await fetch(`${ingress.url}/metrics`),
        await fetch(`${ingress.url}/nowhere`),
        await fetch(`${ingress.url}/webhooks/gitlab`, { method: "GET" }),
      ];
      for (const answer of pages) {
        const where = `${answer.status} ${answer.url}`;
        assert.equal(answer.headers.get("x-content-type-options"), "nosniff", where);
        assert.match(answer.headers.get("content-security-policy") ?? "", /default-src 'self'/, where);
        assert.match(answer.headers.get("content-security-policy") ?? "", /object-src 'none'/, where);
        // served over plain HTTP on internal addresses too: no forced upgrade to https
        assert.doesNotMatch(answer.headers.get("content-security-policy") ?? "", /upgrade-insecure/, where);
        assert.equal(answer.headers.get("x-frame-options"), "SAMEORIGIN", where);
        assert.equal(answer.headers.get("referrer-policy"), "no-referrer", where);
        assert.match(answer.headers.get("strict-transport-security") ?? "", /max-age=\d+/, where);
        assert.equal(answer.headers.get("x-powered-by"), null, where);
      }
      assert.equal(pages[3]?.status, 405);
      assert.equal(pages[3]?.headers.get("allow"), "POST");

      // every kind of webhook answer: refused before the body, refused after it, accepted
      const webhooks = [
        await fetch(`${ingress.url}/webhooks/github`, { method: "POST", body: "{}" }),
        await fetch(`${ingress.url}/webhooks/github`, {
          method: "POST",
          headers: { "content-encoding": "gzip" },
          body: "{}",
        }),
        await fetch(`${ingress.url}/webhooks/gitlab`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-gitlab-token": "wrong" },
          body: "{}",
        }),
      ];
      const accepted = await postGithub(ingress.url, "workflow_run", RUN);
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      const ping = await postGithub(ingress.url, "ping", '{"zen":"Keep it logically awesome."}');
      assert.equal(ping.status, 200, JSON.stringify(ping.body));
      for (const answer of [...webhooks.map((w) => w.headers), accepted.headers, ping.headers]) {
        assertWebhookAnswerHeaders(answer);
      }
    } finally {
      await ingress.close();
    }
  });

  test("the per-address rate limit answers 429 JSON on the webhooks only, and stores nothing", async () => {
    const ingress = await startIngress(nats, null, {
      server: { webhookRateLimit: { window: "1m", max: 5 } },
    });
    try {
      const count = await streamMessages(ingress.bus.jsm);
      for (let i = 0; i < 5; i += 1) {
        const allowed = await postGitlab(ingress.url, "Pipeline Hook", "{}", { token: "wrong" });
        assert.equal(allowed.status, 401, `request ${i + 1} is within the limit`);
      }
      const limited = await postGithub(ingress.url, "workflow_run", RUN);
      assert.equal(limited.status, 429, JSON.stringify(limited.body));
      assert.equal(limited.body.error, "rate_limited");
      assert.match(String(limited.body.message), /more than 5 webhooks in 60000 ms/);
      assert.match(limited.headers.get("ratelimit-policy") ?? "", /5;w=60/);
      assert.match(limited.headers.get("ratelimit") ?? "", /^limit=5, remaining=0, reset=(60|59)$/);
      assert.match(limited.headers.get("retry-after") ?? "", /^(60|59)$/);
      assertWebhookAnswerHeaders(limited.headers);
      assert.equal(await streamMessages(ingress.bus.jsm), count);
      assert.equal((await fetch(`${ingress.url}/healthz`)).status, 200, "health is not limited");
      assert.equal((await fetch(`${ingress.url}/metrics`)).status, 200, "metrics are not limited");
    } finally {
      await ingress.close();
    }
  });

  test("the rate limit counts per client as express's req.ip names it: trusted proxies, IPv6 /56", async () => {
    const limited = async (trustProxy: boolean | string, forwardedFor: readonly string[]) => {
      const ingress = await startIngress(nats, null, {
        server: { webhookRateLimit: { window: "1m", max: 2 }, trustProxy },
      });
      try {
        const statuses: number[] = [];
        for (const address of forwardedFor) {
          const answer = await postGitlab(ingress.url, "Pipeline Hook", "{}", {
            token: "wrong",
            headers: { "x-forwarded-for": address },
          });
          statuses.push(answer.status);
        }
        return statuses;
      } finally {
        await ingress.close();
      }
    };
    // the default trusts loopback, where these requests come from: X-Forwarded-For names the
    // client, so two clients behind the proxy each get their own two webhooks
    assert.deepEqual(
      await limited("loopback", ["203.0.113.5", "203.0.113.5", "203.0.113.6", "203.0.113.5", "203.0.113.6"]),
      [401, 401, 401, 429, 401],
    );
    // an untrusted hop's header is ignored: everyone is the proxy's address
    assert.deepEqual(await limited(false, ["203.0.113.5", "203.0.113.6", "203.0.113.7"]), [401, 401, 429]);
    // one IPv6 /56 is one client (a host is handed a whole prefix); the next /56 is another
    assert.deepEqual(
      await limited("loopback", [
        "2001:db8:0:1::1",
        "2001:db8:0:2::9",
        "2001:db8:0:3::1",
        "2001:db8:0:100::1",
      ]),
      [401, 401, 429, 401],
    );
  });

  /** The app alone on a free port, with a publisher that accepts; `close` ends it. */
  async function serveApp(overrides: Record<string, unknown>) {
    const loaded = loadConfig({
      env: { NATS_URL: nats.url, GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN },
      overrides,
    });
    const published: unknown[] = [];
    const app = createApp({
      config: loaded.config,
      secrets: loaded.secrets,
      publisher: {
        publish: (events) => {
          published.push(...events);
          return Promise.resolve({ stored: events.length, duplicates: 0, spooled: 0 });
        },
      },
      readiness: () => ({ ready: true, checks: {} }),
      logger: createLogger({ level: "silent", secrets: [] }),
      metrics: createMetrics(),
    });
    const server = await listenHttp(app, {
      host: "127.0.0.1",
      port: 0,
      requestTimeout: loaded.config.server.requestTimeout,
    });
    const { port } = server.address() as AddressInfo;
    const close = async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    };
    return { port, published, close };
  }

  /** Writes raw request text on a new socket; resolves with what came back once `until` matches it. */
  function rawRequest(port: number, text: string, until: RegExp) {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const answered = new Promise<string>((resolve, reject) => {
      socket.on("data", (chunk: Buffer) => {
        answer += chunk.toString();
        if (until.test(answer)) resolve(answer);
      });
      socket.on("close", () => reject(new Error(`closed before an answer: ${JSON.stringify(answer)}`)));
    });
    socket.write(text);
    return { socket, answered };
  }

  test("a request refused by its headers is answered before its body is sent, and nothing is buffered", async () => {
    const { port, close } = await serveApp({ server: { requestTimeout: "10s" } });
    try {
      const head = (headers: string) =>
        `POST /webhooks/${headers}\r\nContent-Type: application/json\r\nContent-Length: 20000000\r\n\r\n`;
      for (const [what, request, error] of [
        [
          "wrong GitLab token",
          head("gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Token: wrong\r\nX-Gitlab-Event: Pipeline Hook"),
          "invalid_token",
        ],
        [
          "GitHub without a signature",
          head("github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: workflow_run"),
          "missing_signature",
        ],
        [
          "GitHub with a malformed one",
          head("github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: workflow_run\r\nX-Hub-Signature-256: sha1=abc"),
          "invalid_signature",
        ],
        [
          "GitHub without an event",
          head(`github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=${"0".repeat(64)}`),
          "missing_event",
        ],
      ] as const) {
        const started = Date.now();
        // 20 MB declared, not one byte sent: only an answer from the headers can come back
        const { socket, answered } = rawRequest(port, request, /\}$/);
        const answer = await answered;
        socket.destroy();
        assert.match(answer, /^HTTP\/1\.1 40[01]/, what);
        assert.ok(answer.includes(`"error":"${error}"`), `${what}: ${answer}`);
        assert.ok(Date.now() - started < 5000, `${what}: answered without waiting for the body`);
      }
    } finally {
      await close();
    }
  });

  test("bodies held at once stay within server.bodyMemory: past it 503 busy, and one is always let in", async () => {
    const { port, published, close } = await serveApp({
      server: { bodyMemory: "50kb", requestTimeout: "10s" },
    });
    const body = JSON.stringify({ object_kind: "pipeline", padding: "x".repeat(60_000) });
    const head = `POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Gitlab-Token: ${GITLAB_TOKEN}\r\nX-Gitlab-Event: Pipeline Hook\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    try {
      // the first sends half its 60 KB and waits: it holds those 30 KB
      const first = rawRequest(port, head + body.slice(0, 30_000), /\}$/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const second = rawRequest(port, head + body, /\}$/);
      const busy = await second.answered;
      second.socket.destroy();
      assert.match(busy, /^HTTP\/1\.1 503/);
      assert.match(busy, /retry-after: 1/i);
      assert.ok(busy.includes('"error":"busy"'), busy);
      // the first finishes (its body is no pipeline, so 400) and gives its room back
      first.socket.write(body.slice(30_000));
      assert.match(await first.answered, /^HTTP\/1\.1 400/);
      first.socket.destroy();
      const third = rawRequest(port, head + body, /\}$/);
      assert.match(await third.answered, /^HTTP\/1\.1 400/, "room again once the first was answered");
      third.socket.destroy();
      // a single body over the budget is still let in when nothing else is held
      const alone = await serveApp({ server: { bodyMemory: "10kb", requestTimeout: "10s" } });
      try {
        const only = rawRequest(alone.port, head + body, /\}$/);
        assert.match(await only.answered, /^HTTP\/1\.1 400/);
        only.socket.destroy();
      } finally {
        await alone.close();
      }
      assert.equal(published.length, 0);
    } finally {
      await close();
    }
  });

  test("senders that declare large bodies and send nothing hold no memory: webhooks still get in", async () => {
    const { port, published, close } = await serveApp({ server: { requestTimeout: "10s" } });
    const stalled = Array.from({ length: 6 }, () => connect(port, "127.0.0.1"));
    try {
      // 6 × 16 MB declared (the budget is 64 MB), a well-formed signature, no body
      for (const socket of stalled) {
        socket.write(
          `POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: workflow_run\r\nX-Hub-Signature-256: sha256=${"0".repeat(64)}\r\nContent-Length: 16777216\r\n\r\n`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const body = JSON.stringify({ zen: "still in", hook_id: 1 });
      const signature = `sha256=${createHmac("sha256", GITHUB_SECRET).update(body).digest("hex")}`;
      const ping = rawRequest(
        port,
        `POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: ping\r\nX-Hub-Signature-256: ${signature}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        /\}$/,
      );
      assert.match(await ping.answered, /^HTTP\/1\.1 200/);
      ping.socket.destroy();
      assert.equal(published.length, 0);
    } finally {
      for (const socket of stalled) socket.destroy();
      await close();
    }
  });

  test("a webhook POSTed with an absolute-form target (RFC 9112) reaches its route", async () => {
    const { port, published, close } = await serveApp({});
    try {
      const body = JSON.stringify({ zen: "absolute", hook_id: 1 });
      const signature = `sha256=${createHmac("sha256", GITHUB_SECRET).update(body).digest("hex")}`;
      const { socket, answered } = rawRequest(
        port,
        `POST http://gateway.example/webhooks/github HTTP/1.1\r\nHost: gateway.example\r\nContent-Type: application/json\r\nX-GitHub-Event: ping\r\nX-Hub-Signature-256: ${signature}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        /\}$/,
      );
      const answer = await answered;
      socket.destroy();
      assert.match(answer, /^HTTP\/1\.1 200/);
      assert.ok(answer.includes('"message":"pong"'), answer);
      assert.equal(published.length, 0);
    } finally {
      await close();
    }
  });

  test("a client that sends half a request and stalls is cut off after requestTimeout", async () => {
    const { port, close } = await serveApp({ server: { requestTimeout: "1s" } });
    try {
      const stalls = {
        "headers never finished":
          "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: workflow_run\r\n",
        "body never finished":
          // with the token and event header, so the gateway reads the body (it answers any
          // other request from its headers alone, without waiting for a body)
          `POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Gitlab-Token: ${GITLAB_TOKEN}\r\nX-Gitlab-Event: Pipeline Hook\r\nContent-Length: 5000\r\n\r\n{`,
      };
      const closed = await Promise.all(
        Object.entries(stalls).map(async ([what, partial]) => {
          const socket = connect(port, "127.0.0.1");
          const started = Date.now();
          let answer = "";
          socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
          socket.write(partial);
          await new Promise((resolve) => socket.on("close", resolve));
          return { what, ms: Date.now() - started, answer };
        }),
      );
      for (const { what, ms, answer } of closed) {
        assert.ok(ms >= 900 && ms < 4000, `${what}: closed after ${ms} ms`);
        assert.match(answer, /^HTTP\/1\.1 408/, what);
        assert.match(answer, /\r\n\r\n\{"error":"request_timeout",/, what);
      }
    } finally {
      await close();
    }
  });

  test("a request Node cannot parse gets a JSON answer naming what is wrong, not an empty one", async () => {
    const { port, close } = await serveApp({});
    const raw = (request: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, "127.0.0.1", () => socket.write(request));
        let answer = "";
        socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
        socket.on("close", () => resolve(answer));
      });
    try {
      const huge = await fetch(`http://127.0.0.1:${port}/webhooks/github`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-padding": "a".repeat(20_000) },
        body: "{}",
      });
      assert.equal(huge.status, 431);
      assert.equal(huge.headers.get("content-type"), "application/json; charset=utf-8");
      // the security headers every answer carries (README), a webhook answer's set
      for (const [name, value] of Object.entries(WEBHOOK_ANSWER_HEADERS)) {
        assert.equal(huge.headers.get(name), value, name);
      }
      assert.deepEqual(await huge.json(), {
        error: "headers_too_large",
        message: "the request headers are over 16 KB",
      });
      const malformed = await raw("POST /webhooks/github HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
      assert.match(malformed, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.ok(
        malformed.endsWith('\r\n\r\n{"error":"bad_request","message":"the request is not valid HTTP/1.1"}'),
        malformed,
      );
    } finally {
      await close();
    }
  });
});
