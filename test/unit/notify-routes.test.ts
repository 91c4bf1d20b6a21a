import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { configSchema, type Route } from "../../src/config/schema.ts";
import { globToRegExp, matchesAnyGlob, matchesGlob } from "../../src/notify/glob.ts";
import { MAX_KEY_PART, decodeKeyPart, encodeKeyPart } from "../../src/notify/keys.ts";
import { matchRoutes } from "../../src/notify/routes.ts";
import { normalizeGitlab } from "../../src/normalize/gitlab.ts";
import { buildEvent } from "../helpers/events.ts";

const routes = (raw: unknown[]): Route[] => configSchema.parse({ routes: raw }).routes;

describe("glob", () => {
  it("* stays in a segment, ** crosses segments, ? is one character", () => {
    assert.equal(matchesGlob("acme/api", "acme/*"), true);
    assert.equal(matchesGlob("acme/sub/api", "acme/*"), false);
    assert.equal(matchesGlob("acme/sub/api", "acme/**"), true);
    assert.equal(matchesGlob("acme/api", "acme/**/api"), true);
    assert.equal(matchesGlob("release/1.2", "release/*"), true);
    assert.equal(matchesGlob("release-1", "release/*"), false);
    assert.equal(matchesGlob("v1", "v?"), true);
  });

  it("regex characters are literal", () => {
    assert.equal(matchesGlob("a.b", "a.b"), true);
    assert.equal(matchesGlob("axb", "a.b"), false);
    assert.equal(matchesGlob("CI (push)", "CI (push)"), true);
    assert.equal(globToRegExp("a+b").test("aab"), false);
  });

  it("an omitted list matches anything, a missing value matches no list", () => {
    assert.equal(matchesAnyGlob(null, undefined), true);
    assert.equal(matchesAnyGlob(null, ["*"]), false);
  });
});

describe("KV key encoding", () => {
  it("keeps safe characters, escapes the rest and round-trips", () => {
    for (const name of ["acme/api", "feature/ü x.y", "", "=", "a\u0000b", "C0123456"]) {
      const encoded = encodeKeyPart(name);
      assert.match(encoded, /^[-/_=a-zA-Z0-9]+$/);
      assert.equal(decodeKeyPart(encoded), name);
    }
    assert.equal(encodeKeyPart("acme/api"), "acme/api");
    assert.notEqual(encodeKeyPart(""), encodeKeyPart("="));
  });

  it("names a part too long for a NATS subject by its hash, one per name", () => {
    const long = "ビルド と テスト ".repeat(100);
    const encoded = encodeKeyPart(long);
    assert.ok(encoded.length <= MAX_KEY_PART, `${encoded.length} characters`);
    assert.match(encoded, /^[-/_=a-zA-Z0-9]+$/);
    assert.notEqual(encodeKeyPart(`${long}!`), encoded);
    assert.equal(decodeKeyPart(encoded), null);
    // what fits is spelled out as before, so the keys of existing state do not change
    const fits = "x".repeat(MAX_KEY_PART);
    assert.equal(encodeKeyPart(fits), fits);
  });
});

describe("matchRoutes", () => {
  const config = routes([
    {
      name: "main-breakage",
      match: {
        repositories: ["acme/*"],
        branches: ["main", "release/*"],
        pipelines: ["CI"],
        providers: ["github", "gitlab"],
      },
      on: ["failed", "still_failing", "fixed"],
      slack: { channel: "C0123456" },
    },
    { name: "everything", on: ["succeeded"], email: { to: ["team@example.com"] } },
    { name: "jobs", match: { kinds: ["job"] }, on: ["failed"], email: { to: ["jobs@example.com"] } },
  ]);
  const names = (list: Route[]) => list.map((route) => route.name);

  it("matches repository, branch, pipeline and provider globs and the transition", () => {
    assert.deepEqual(names(matchRoutes(config, buildEvent({ status: "failure" }).data, "failed")), [
      "main-breakage",
    ]);
    assert.deepEqual(names(matchRoutes(config, buildEvent({ branch: "release/2.0" }).data, "fixed")), [
      "main-breakage",
    ]);
    assert.deepEqual(names(matchRoutes(config, buildEvent({ branch: "feature/x" }).data, "failed")), []);
    assert.deepEqual(names(matchRoutes(config, buildEvent({ repository: "other/api" }).data, "failed")), []);
    assert.deepEqual(names(matchRoutes(config, buildEvent({ pipeline: "Lint" }).data, "failed")), []);
    assert.deepEqual(names(matchRoutes(config, buildEvent({ branch: null }).data, "failed")), []);
  });

  it("branches match branch builds only, tags tag builds only; a route naming neither matches both", () => {
    const refs = routes([
      { name: "main", match: { branches: ["*"] }, email: { to: ["a@example.com"] } },
      { name: "releases", match: { tags: ["v*"] }, email: { to: ["a@example.com"] } },
      { name: "both", match: { branches: ["main"], tags: ["v*"] }, email: { to: ["a@example.com"] } },
      { name: "any", email: { to: ["a@example.com"] } },
    ]);
    const tag = (name: string) => buildEvent({ branch: name, refType: "tag", status: "failure" }).data;
    assert.deepEqual(names(matchRoutes(refs, tag("v1.4"), "failed")), ["releases", "both", "any"]);
    assert.deepEqual(
      names(matchRoutes(refs, tag("main"), "failed")),
      ["any"],
      "a tag named main is no branch",
    );
    assert.deepEqual(names(matchRoutes(refs, buildEvent({ status: "failure" }).data, "failed")), [
      "main",
      "both",
      "any",
    ]);
    const v1Branch = buildEvent({ branch: "v1", status: "failure" }).data;
    assert.deepEqual(names(matchRoutes(refs, v1Branch, "failed")), ["main", "any"]);
    // a real GitLab job hook of a tag pipeline
    const payload: unknown = JSON.parse(
      readFileSync(
        new URL("../fixtures/webhooks/gitlab/job.nuecagram-real.failed.json", import.meta.url),
        "utf8",
      ),
    );
    const result = normalizeGitlab({ event: "Job Hook", deliveryId: null, payload });
    assert.ok(result.handled);
    const job = result.events[0]?.data;
    assert.ok(job);
    assert.equal(job.ref.type, "tag");
    const jobRoutes = routes([
      { name: "branches", match: { branches: ["*"], kinds: ["job"] }, email: { to: ["a@example.com"] } },
      { name: "tags", match: { tags: ["t2_*"], kinds: ["job"] }, email: { to: ["a@example.com"] } },
    ]);
    assert.deepEqual(names(matchRoutes(jobRoutes, job, "failed")), ["tags"]);
  });

  it("a deployment of a release matches `tags`, whatever its ref looks like; of a branch `branches`", () => {
    const refs = routes([
      {
        name: "branches",
        match: { branches: ["*"], kinds: ["deployment"] },
        email: { to: ["a@example.com"] },
      },
      {
        name: "releases",
        match: { tags: ["v*", "1.*"], kinds: ["deployment"] },
        email: { to: ["a@example.com"] },
      },
    ]);
    // a real GitLab deployment hook: it names its ref, not whether it is a tag
    const payload = JSON.parse(
      readFileSync(
        new URL("../fixtures/webhooks/gitlab/deployment.go-gitlab.1.json", import.meta.url),
        "utf8",
      ),
    ) as Record<string, unknown>;
    const deployed = (ref: string) => {
      const result = normalizeGitlab({
        event: "Deployment Hook",
        deliveryId: null,
        payload: { ...payload, ref, status: "failed" },
      });
      assert.ok(result.handled);
      const data = result.events[0]?.data;
      assert.ok(data);
      return data;
    };
    assert.deepEqual(names(matchRoutes(refs, deployed("1.0.0"), "failed")), ["releases"]);
    assert.deepEqual(names(matchRoutes(refs, deployed("v2.1.0-rc.1"), "failed")), ["releases"]);
    assert.deepEqual(names(matchRoutes(refs, deployed("main"), "failed")), ["branches"]);
    assert.deepEqual(names(matchRoutes(refs, deployed("123-fix-login"), "failed")), ["branches"]);
  });

  it("kinds default to pipeline; job routes match job events only", () => {
    const job = buildEvent({ status: "failure", job: { id: "7", name: "test" } }).data;
    assert.deepEqual(names(matchRoutes(config, job, "failed")), ["jobs"]);
    assert.deepEqual(names(matchRoutes(config, buildEvent().data, "succeeded")), ["everything"]);
  });
});
