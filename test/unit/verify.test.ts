import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { sign } from "@octokit/webhooks-methods";
import { verifyGithubSignature, verifyGitlabToken } from "../../src/ingress/verify.ts";
import { retryDelayMs } from "../../src/bus/consume.ts";
import { redactUrl } from "../../src/bus/connect.ts";
import { createLogger, secretScrubber, urlCredentials } from "../../src/observability/logger.ts";

test("GitHub signatures verify against any configured secret and nothing else", async () => {
  const text = '{"zen":"Keep it logically awesome."}';
  const body = Buffer.from(text);
  // @octokit/webhooks-methods signs as GitHub does: the oracle for our verifier
  const signature = await sign("s3cret-new", text);
  assert.equal(verifyGithubSignature(["s3cret-old", "s3cret-new"], body, signature), true);
  assert.equal(verifyGithubSignature(["s3cret-new", "s3cret-old"], body, signature), true);
  assert.equal(verifyGithubSignature(["s3cret-old"], body, signature), false);
  assert.equal(verifyGithubSignature([], body, signature), false);
  assert.equal(verifyGithubSignature(["s3cret-new"], Buffer.from(`${text} `), signature), false);
  assert.equal(verifyGithubSignature(["s3cret-new"], body, signature.replace("sha256=", "sha1=")), false);
  assert.equal(verifyGithubSignature(["s3cret-new"], body, signature.toUpperCase()), false);
  assert.equal(verifyGithubSignature(["s3cret-new"], body, "sha256=zz"), false);
  assert.equal(verifyGithubSignature(["s3cret-new"], body, `${signature}00`), false);
  assert.equal(verifyGithubSignature(["s3cret-new"], Buffer.alloc(0), signature), false);
  // the bytes as sent, not their text: a body that is not valid UTF-8 still verifies (and is
  // then refused as such), and text that re-encodes differently does not
  const latin1 = Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x7d]);
  const latin1Signature = `sha256=${createHmac("sha256", "k").update(latin1).digest("hex")}`;
  assert.equal(verifyGithubSignature(["k"], latin1, latin1Signature), true);
  assert.equal(verifyGithubSignature(["k"], Buffer.from(latin1.toString("utf8")), latin1Signature), false);
});

test("GitLab tokens compare exactly, whatever their length", () => {
  assert.equal(verifyGitlabToken(["a-token", "b-token"], "b-token"), true);
  assert.equal(verifyGitlabToken(["a-token"], "a-token "), false);
  assert.equal(verifyGitlabToken(["a-token"], ""), false);
  assert.equal(verifyGitlabToken([], "a-token"), false);
});

test("retry delays grow exponentially with jitter and stay capped", () => {
  assert.equal(
    retryDelayMs(1, () => 0),
    500,
  );
  assert.equal(
    retryDelayMs(1, () => 1),
    1000,
  );
  assert.equal(
    retryDelayMs(4, () => 1),
    8000,
  );
  assert.equal(
    retryDelayMs(30, () => 1),
    60_000,
  );
});

test("the log scrubber removes secret values anywhere in a line, including URL passwords", () => {
  const scrub = secretScrubber(["hunter22", ...urlCredentials("smtp://mailer:p%40ss-word@mail:587")]);
  const line = scrub(
    '{"msg":"connect smtp://mailer:p%40ss-word@mail failed","token":"hunter22","x":"p@ss-word"}',
  );
  assert.doesNotMatch(line, /hunter22|p%40ss-word|p@ss-word/);
  assert.match(line, /\[REDACTED]/);
});

test("a secret with characters JSON escapes (quote, backslash, tab) is scrubbed from log lines too", () => {
  const secrets = [String.raw`webhook"secret\one`, "tab\tsecret-two"];
  const lines: string[] = [];
  const logger = createLogger({ level: "info", secrets, write: (line) => lines.push(line) });
  // a sender pasting the secret into the event header: the rejection logs that header
  logger.info({ event: secrets[0], other: secrets[1] }, "webhook rejected");
  logger.error({ err: new Error(`connect smtp://mailer:${secrets[0]}@mail failed`) }, "delivery failed");
  const text = lines.join("");
  for (const secret of secrets) {
    assert.ok(!text.includes(JSON.stringify(secret).slice(1, -1)), "not even as escaped JSON");
  }
  assert.equal(text.match(/\[REDACTED]/g)?.length, 4, text);
});

test("a password or token in a URL's query (ioredis takes redis://host?password=…) is masked and scrubbed", () => {
  // ioredis reads every query parameter as an option, password included: a REDIS_URL written
  // so worked, and its password was in the startup line, its refusals and `config check`
  const url = "redis://redis.example.com:6379/0?family=6&password=hunter2-q&authToken=t0ken-q";
  assert.equal(redactUrl(url), "redis://redis.example.com:6379/0?family=6&password=***&authToken=***");
  assert.equal(
    redactUrl(`nats://n1:4222,nats://n2:4222?token=t0ken-q`),
    "nats://n1:4222,nats://n2:4222?token=***",
  );
  const scrub = secretScrubber(urlCredentials(url));
  const line = scrub(`{"msg":"Redis at ${url} refused this gateway","x":"hunter2-q t0ken-q"}`);
  assert.doesNotMatch(line, /hunter2-q|t0ken-q/);
  assert.match(line, /family=6/, "other parameters are no secret");
});
