import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import express from "express";
import { ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createStatusService, type StatusService } from "../../src/status/index.ts";
import { branchStoreKey, runStoreKey } from "../../src/status/keys.ts";
import { applyToStore } from "../../src/status/store.ts";
import type { BranchState, RunState } from "../../src/status/model.ts";
import { buildEvent, publishEvent } from "../helpers/events.ts";
import { workflowRunEvent } from "../helpers/github-runs.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

const TOKEN = "status-api-token-0123456789";

interface Harness {
  readonly url: string;
  readonly service: StatusService;
  close(): Promise<void>;
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("status store against a real NATS", () => {
  let nats: TestServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const harnesses: Harness[] = [];
  const loaded = () =>
    loadConfig({
      env: {},
      overrides: { status: { runsPerBranch: 5 }, nats: { consumer: { ackWait: 5000, maxDeliver: 5 } } },
    });

  async function startService(options: { token?: string; consume?: boolean } = {}): Promise<Harness> {
    const { config, secrets } = loaded();
    const service = createStatusService({
      nc,
      js,
      jsm,
      config,
      secrets: { ...secrets, apiToken: options.token ?? null },
      logger: createLogger({ level: "silent", secrets: [] }),
      heartbeatMs: 200,
      consume: options.consume ?? true,
    });
    await service.start();
    const app = express();
    app.use(service.router);
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    const harness: Harness = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      service,
      close: async () => {
        await service.stop();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
    harnesses.push(harness);
    return harness;
  }

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, loaded().config.nats.stream);
  });

  after(async () => {
    for (const h of harnesses) await h.close();
    await nc.drain();
    await nats.dispose();
  });

  const getJson = async (url: string, init?: RequestInit) => {
    const res = await fetch(url, init);
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };

  it("answers status, runs and one run from published events", async () => {
    const h = await startService();
    const repo = "group/sub group/api";
    const branch = "feature/ß #1.x";
    // runs 2 (CI) and 3 (Docs) built the same, newest commit
    const HEAD_SHA = "c".repeat(40);
    await publishEvent(
      js,
      buildEvent({
        repository: repo,
        branch,
        runId: "1",
        status: "success",
        createdAt: "2024-05-01T08:00:00Z",
        at: "2024-05-01T08:05:00Z",
        durationMs: 300_000,
      }),
    );
    await publishEvent(
      js,
      buildEvent({
        repository: repo,
        branch,
        runId: "2",
        sha: HEAD_SHA,
        status: "failure",
        createdAt: "2024-05-01T09:00:00Z",
        at: "2024-05-01T09:04:00Z",
        durationMs: 240_000,
      }),
    );
    await publishEvent(
      js,
      buildEvent({
        repository: repo,
        branch,
        runId: "2",
        sha: HEAD_SHA,
        status: "failure",
        at: "2024-05-01T09:03:00Z",
        job: { id: "77", name: "unit tests" },
      }),
    );
    await publishEvent(
      js,
      buildEvent({
        repository: repo,
        branch,
        runId: "3",
        sha: HEAD_SHA,
        pipeline: "Docs",
        status: "running",
        createdAt: "2024-05-01T09:30:00Z",
        at: "2024-05-01T09:31:00Z",
      }),
    );
    // a branch differing only in a character the key encoding must keep apart
    await publishEvent(
      js,
      buildEvent({ repository: repo, branch: "feature/ß #1-x", runId: "9", status: "success" }),
    );

    const q = `repository=${encodeURIComponent(repo)}&branch=${encodeURIComponent(branch)}`;
    const status = await until(async () => {
      const r = await getJson(`${h.url}/api/v1/status?${q}`);
      const pipelines = r.body.pipelines as { run: { failedJobs: unknown[] } }[] | undefined;
      return r.status === 200 && pipelines?.length === 2 && pipelines[0]?.run.failedJobs.length === 1
        ? r
        : undefined;
    }, "status with two pipelines");
    assert.equal(status.body.state, "failing", "any failure → failing");
    assert.match(status.headers.get("cache-control") ?? "", /no-cache/);
    const pipelines = status.body.pipelines as { pipeline: string; state: string; run: { runId: string } }[];
    assert.deepEqual(
      pipelines.map((p) => [p.pipeline, p.state, p.run.runId]),
      [
        ["CI", "failing", "2"],
        ["Docs", "running", "3"],
      ],
    );

    const runs = await getJson(`${h.url}/api/v1/runs?${q}&pipeline=CI`);
    assert.equal(runs.status, 200);
    const list = runs.body.runs as {
      runId: string;
      status: string;
      durationMs: number;
      commit: { sha: string; author: unknown };
      url: string;
      failedJobs: { name: string }[];
    }[];
    assert.deepEqual(
      list.map((r) => r.runId),
      ["2", "1"],
      "newest first",
    );
    assert.equal(list[0]?.durationMs, 240_000);
    assert.deepEqual(
      list[0]?.failedJobs.map((j) => j.name),
      ["unit tests"],
    );
    assert.deepEqual(
      list[0]?.commit.author,
      { name: "Ada Lovelace", username: "ada" },
      "no e-mail in public answers",
    );
    assert.match(list[0]?.url ?? "", /runs\/2$/);

    const limited = await getJson(`${h.url}/api/v1/runs?repository=${encodeURIComponent(repo)}&limit=1`);
    assert.deepEqual(
      (limited.body.runs as { runId: string }[]).map((r) => r.runId),
      ["9"],
    );

    const other = await getJson(
      `${h.url}/api/v1/status?repository=${encodeURIComponent(repo)}&branch=${encodeURIComponent("feature/ß #1-x")}`,
    );
    assert.equal(other.body.state, "passing", "the similar branch was not merged into the first");

    const one = await getJson(`${h.url}/api/v1/runs/github/2`);
    assert.equal(one.status, 200);
    assert.equal(one.body.status, "failure");
    assert.deepEqual(
      (one.body.jobs as { id: string; state: string }[]).map((j) => [j.id, j.state]),
      [["77", "failing"]],
    );
  });

  it("answers 404 for unknown repositories and runs, 400 naming the bad parameter", async () => {
    const h = harnesses[0]!;
    const unknown = await getJson(`${h.url}/api/v1/status?repository=nobody/nothing&branch=main`);
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.message), /unknown repository: nobody\/nothing/);
    assert.equal((await getJson(`${h.url}/api/v1/runs?repository=nobody/nothing`)).status, 404);
    assert.equal((await getJson(`${h.url}/api/v1/runs/gitlab/123456`)).status, 404);
    assert.match(unknown.headers.get("cache-control") ?? "", /no-cache/, "no cache keeps a 404");

    const cases: [string, string][] = [
      ["/api/v1/status?branch=main", "repository"],
      ["/api/v1/status?repository=acme/api", "branch"],
      ["/api/v1/status?repository=acme/api&branch=main&provider=bitbucket", "provider"],
      ["/api/v1/runs?repository=acme/api&limit=0", "limit"],
      ["/api/v1/runs?repository=acme/api&limit=abc", "limit"],
      ["/api/v1/runs?repository=a&repository=b", "repository"],
      ["/api/v1/runs/bitbucket/1", "provider"],
      // a run id long enough to push a NATS subject past the 4 KB control line
      [`/api/v1/runs/github/${"a".repeat(4000)}`, "runId"],
      ["/badge.svg?repository=acme/api", "branch"],
      ["/api/v1/events?since=abc", "since"],
    ];
    for (const [path, parameter] of cases) {
      const r = await getJson(`${h.url}${path}`);
      assert.equal(r.status, 400, path);
      assert.match(r.headers.get("cache-control") ?? "", /no-cache/, path);
      assert.equal(r.body.parameter, parameter, path);
      assert.match(String(r.body.message), new RegExp(parameter), path);
    }
  });

  it("serves badges as SVG with no-cache headers and the state's colour", async () => {
    const h = harnesses[0]!;
    await publishEvent(js, buildEvent({ repository: "acme/badges", runId: "50", status: "success" }));
    await publishEvent(
      js,
      buildEvent({ repository: "acme/badges", branch: "red", runId: "51", status: "failure" }),
    );
    await publishEvent(
      js,
      buildEvent({ repository: "acme/badges", branch: "wip", runId: "52", status: "running" }),
    );
    await publishEvent(
      js,
      buildEvent({ repository: "acme/badges", branch: "stop", runId: "53", status: "canceled" }),
    );
    const colours: Record<string, [string, string]> = {
      main: ["passing", "#2e9f46"],
      red: ["failing", "#d9453a"],
      wip: ["running", "#d29b10"],
      stop: ["canceled", "#8a6fd1"],
      nowhere: ["unknown", "#9f9f9f"],
    };
    for (const [branch, [state, colour]] of Object.entries(colours)) {
      const svg = await until(async () => {
        const res = await fetch(`${h.url}/badge.svg?repository=acme/badges&branch=${branch}`);
        const text = await res.text();
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "image/svg+xml; charset=utf-8");
        assert.match(res.headers.get("cache-control") ?? "", /no-cache/);
        // embeddable by other sites (GitLab project badges, wikis)
        assert.equal(res.headers.get("cross-origin-resource-policy"), "cross-origin");
        return text.includes(`>${state}</text>`) ? text : undefined;
      }, `badge ${state}`);
      assert.ok(svg.includes(`fill="${colour}"`), `${state} is ${colour}`);
      assert.ok(svg.startsWith("<svg"));
    }
    const labelled = await (
      await fetch(`${h.url}/badge.svg?repository=acme/badges&branch=main&label=<x>`)
    ).text();
    assert.ok(labelled.includes("&lt;x&gt;") && !labelled.includes("<x>"), "label escaped");
  });

  it("two GitHub workflows sharing a name each decide main: one's green run hides no red one", async () => {
    const h = harnesses[0]!;
    // ci.yml (workflow 1) and ci-docs.yml (workflow 2), both `name: CI`, build one commit
    const run = (workflowId: number, number: number, conclusion: "success" | "failure", minute: number) =>
      workflowRunEvent({
        repository: "acme/twins",
        workflowId,
        name: "CI",
        number,
        conclusion,
        day: 2,
        minute,
      });
    await publishEvent(js, run(2, 13, "failure", 0));
    await publishEvent(js, run(1, 301, "success", 1));
    const status = await until(async () => {
      const { body } = await getJson(`${h.url}/api/v1/status?repository=acme/twins&branch=main`);
      const pipelines = body.pipelines as unknown[] | undefined;
      return pipelines?.length === 2 ? body : undefined;
    }, "both workflows");
    assert.equal(status.state, "failing");
    const badge = await (await fetch(`${h.url}/badge.svg?repository=acme/twins&branch=main`)).text();
    assert.ok(badge.includes(">failing</text>"), badge);
  });

  it("finds a repository however its name is cased, as GitHub and GitLab do", async () => {
    const h = harnesses[0]!;
    await publishEvent(
      js,
      buildEvent({ repository: "Octo-Org/Hello-World", runId: "60", status: "failure" }),
    );
    await until(async () => {
      const res = await fetch(`${h.url}/api/v1/status?repository=Octo-Org/Hello-World&branch=main`);
      return res.status === 200 ? true : undefined;
    }, "the run stored");
    // a README's badge typed from memory, the address as GitHub redirects to it
    for (const name of ["octo-org/hello-world", "OCTO-ORG/HELLO-WORLD"]) {
      const status = await getJson(`${h.url}/api/v1/status?repository=${name}&branch=main`);
      assert.equal(status.status, 200, `${name}: ${JSON.stringify(status.body)}`);
      assert.equal(status.body.state, "failing");
      const runs = await getJson(`${h.url}/api/v1/runs?repository=${name}`);
      assert.equal(runs.status, 200, `${name}: ${JSON.stringify(runs.body)}`);
      assert.equal((runs.body.runs as unknown[]).length, 1);
      const badge = await (await fetch(`${h.url}/badge.svg?repository=${name}&branch=main`)).text();
      assert.ok(badge.includes(">failing</text>"), `${name}: the badge is not grey`);
    }
    // branch names are git's, and git tells Main from main
    const other = await getJson(`${h.url}/api/v1/status?repository=octo-org/hello-world&branch=Main`);
    assert.equal(other.status, 404);
  });

  it("requires the token when one is set: header, query or the dashboard cookie", async () => {
    const h = await startService({ token: TOKEN, consume: false });
    const path = "/api/v1/runs?repository=acme/badges";
    const denied = await fetch(`${h.url}${path}`);
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get("www-authenticate") ?? "", /Bearer/);
    assert.equal(denied.headers.get("cache-control"), "no-store", "no cache keeps a refusal");
    assert.equal(
      (await fetch(`${h.url}${path}`, { headers: { authorization: "Bearer wrong" } })).status,
      401,
    );
    assert.equal(
      (await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
      200,
    );
    assert.equal(
      (await fetch(`${h.url}/badge.svg?repository=acme/badges&branch=main&token=${TOKEN}`)).status,
      200,
    );

    const page = await fetch(`${h.url}/`);
    assert.equal(page.status, 401);
    assert.match(await page.text(), /<form/);
    const login = await fetch(`${h.url}/?token=${TOKEN}`, { redirect: "manual" });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get("location"), "/");
    // a shared, filtered view keeps its filters through the sign-in
    const shared = await fetch(`${h.url}/?state=failing&token=${TOKEN}&q=api`, { redirect: "manual" });
    assert.equal(shared.status, 303);
    assert.equal(shared.headers.get("location"), "/?state=failing&q=api");
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    assert.ok(!cookie.includes(TOKEN), "the cookie does not hold the token itself");
    assert.match(login.headers.get("set-cookie") ?? "", /HttpOnly/);
    assert.equal((await fetch(`${h.url}/`, { headers: { cookie } })).status, 200);
    assert.equal((await fetch(`${h.url}${path}`, { headers: { cookie } })).status, 200);
    assert.equal((await fetch(`${h.url}/`, { headers: { cookie: "buildcast_token=forged" } })).status, 401);
  });

  it("signs in by a form that posts the token and keeps the view's filters", async () => {
    const h = await startService({ token: TOKEN, consume: false });
    const page = await fetch(`${h.url}/?state=failing&q=api`);
    assert.equal(page.status, 401);
    const html = await page.text();
    assert.match(html, /<form method="post" action="\/\?state=failing&amp;q=api">/);
    assert.doesNotMatch(html, /That token is not valid/);

    const post = (body: string, contentType = "application/x-www-form-urlencoded") =>
      fetch(`${h.url}/?state=failing&q=api`, {
        method: "POST",
        headers: { "content-type": contentType },
        body,
        redirect: "manual",
      });
    const signedIn = await post(new URLSearchParams({ token: TOKEN }).toString());
    assert.equal(signedIn.status, 303);
    assert.equal(signedIn.headers.get("location"), "/?state=failing&q=api");
    const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    assert.ok(cookie.startsWith("buildcast_token=") && !cookie.includes(TOKEN));
    assert.equal((await fetch(`${h.url}/`, { headers: { cookie } })).status, 200);

    for (const refused of [
      await post("token=wrong"),
      await post(""),
      await post(`{"token":"${TOKEN}"}`, "application/json"),
    ]) {
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("set-cookie"), null);
      assert.match(await refused.text(), /That token is not valid/);
    }
    const huge = await post(`token=${"x".repeat(10_000)}`);
    assert.equal(huge.status, 413);
    assert.deepEqual(await huge.json(), {
      error: "payload_too_large",
      message: "the sign-in form's body is over 4 KB",
    });
    const fields = await post("a=1&b=2&c=3&d=4&e=5&token=x");
    assert.equal(fields.status, 413);
    assert.equal(
      ((await fields.json()) as { message: string }).message,
      "the sign-in form has more than 5 fields",
    );
  });

  it("never loses an update when two consumers (one durable) race on one run", async () => {
    const second = await startService();
    assert.ok(second);
    const repo = "acme/race";
    const events = Array.from({ length: 40 }, (_, i) =>
      buildEvent({
        repository: repo,
        runId: "700",
        status: i % 3 === 0 ? "failure" : "success",
        at: `2024-05-01T10:${String(i).padStart(2, "0")}:00Z`,
        job: { id: `job-${i}`, name: `job ${i}` },
      }),
    );
    events.push(
      buildEvent({ repository: repo, runId: "700", status: "failure", at: "2024-05-01T11:00:00Z" }),
    );
    await Promise.all(events.map((e) => publishEvent(js, e)));

    const kv = await new Kvm(nc).open(loaded().config.status.bucket);
    const run = await until(async () => {
      const entry = await kv.get(runStoreKey("github", `id-${repo}`, "700"));
      const state = entry?.json<RunState>();
      return state && state.jobs.length === 40 && state.pipeline ? state : undefined;
    }, "all 40 jobs in the run record");
    assert.equal(run.pipeline?.status, "failure");
    const branch = await until(async () => {
      const state = (await kv.get(branchStoreKey("github", repo, "main", "CI")))?.json<BranchState>();
      return state?.runs[0]?.failedJobs.length === 14 ? state : undefined;
    }, "branch list with every failed job");
    assert.equal(branch.runs.length, 1);
    const info = await jsm.consumers.info(loaded().config.nats.stream.name, "status-store");
    assert.equal(info.num_pending, 0);
  });

  it("compare-and-set keeps every update when two writers on separate connections race", async () => {
    const bucket = loaded().config.status.bucket;
    const other = await connect({ servers: nats.url });
    const kvA = await new Kvm(nc).open(bucket);
    const kvB = await new Kvm(other).open(bucket);
    const repo = "acme/cas";
    const events = Array.from({ length: 60 }, (_, i) =>
      buildEvent({
        repository: repo,
        runId: "750",
        status: "running",
        job: { id: `j${i}`, name: `job ${i}` },
      }),
    );
    const results = await Promise.all(
      events.map((e, i) => applyToStore({ kv: i % 2 ? kvA : kvB, runsPerBranch: 5 }, e)),
    );
    assert.ok(results.every((r) => r.changed));
    const run = (await kvA.get(runStoreKey("github", `id-${repo}`, "750")))?.json<RunState>();
    assert.equal(run?.jobs.length, 60);
    await other.close();
  });

  it("a redelivered event changes nothing", async () => {
    const kv = await new Kvm(nc).open(loaded().config.status.bucket);
    const event = buildEvent({ repository: "acme/redeliver", runId: "800", status: "success" });
    await publishEvent(js, event);
    const key = runStoreKey("github", "id-acme/redeliver", "800");
    const first = await until(async () => (await kv.get(key)) ?? undefined, "run record");
    const branchKey = branchStoreKey("github", "acme/redeliver", "main", "CI");
    const branchFirst = await until(async () => (await kv.get(branchKey)) ?? undefined, "branch record");
    // the same event again under a new message id, as a redelivery past the dedup window would be
    await js.publish(event.type, JSON.stringify(event), { msgID: `${event.id}-again` });
    await until(async () => {
      const info = await jsm.consumers.info(loaded().config.nats.stream.name, "status-store");
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    }, "consumer caught up");
    assert.equal((await kv.get(key))?.revision, first.revision);
    assert.equal((await kv.get(branchKey))?.revision, branchFirst.revision);
  });

  it("stores runs whose names are too long to spell out in a NATS subject, without a dropped connection", async () => {
    const h = harnesses[0]!;
    // a fork's pull request sets its workflow's `name:`, an external CI its status context
    // (part of the run id): each is spelled out in a KV key, and a KV put names its key in a
    // subject, which NATS refuses — closing the connection — past its 4 KB control line
    const workflow = "ビルド と テスト ".repeat(100);
    const context = `ci/jenkins: ${"pipelines/".repeat(300)}build`;
    let disconnects = 0;
    void (async () => {
      for await (const status of nc.status()) if (status.type === "disconnect") disconnects += 1;
    })();
    await publishEvent(
      js,
      buildEvent({ repository: "acme/long-names", runId: "900", pipeline: workflow, status: "failure" }),
    );
    await publishEvent(
      js,
      buildEvent({ repository: "acme/long-names", runId: `${"f".repeat(40)}:${context}`, pipeline: context }),
    );
    const status = await until(async () => {
      const { body } = await getJson(`${h.url}/api/v1/status?repository=acme/long-names&branch=main`);
      const pipelines = body.pipelines as unknown[] | undefined;
      return pipelines?.length === 2 ? body : undefined;
    }, "both long-named pipelines");
    const names = (status.pipelines as { pipeline: string }[]).map((p) => p.pipeline).sort();
    assert.deepEqual(names, [context, workflow].sort());
    assert.equal(status.state, "failing");
    const run = await getJson(`${h.url}/api/v1/runs/github/900`);
    assert.equal(run.status, 200);
    assert.equal(disconnects, 0, "the NATS connection was dropped");
  });

  it("takes over a long-named pipeline's branch list that an earlier release spelled out in its key", async () => {
    const h = harnesses[0] ?? (await startService());
    const kv = await new Kvm(nc).open(loaded().config.status.bucket);
    const repo = "acme/legacy-long";
    // 840 characters: a base64url token of 1,120, hashed now, spelled out by earlier releases
    // (which NATS took: the key fits in a subject)
    const workflow = "Long workflow ".repeat(60);
    const b64 = (name: string) => Buffer.from(name, "utf8").toString("base64url");
    const legacyKey = ["branch", "github", b64(repo), b64("main"), b64(workflow)].join(".");
    const key = branchStoreKey("github", repo, "main", workflow);
    assert.notEqual(key, legacyKey);
    const runs = () => getJson(`${h.url}/api/v1/runs?repository=${repo}`);
    // the list as an earlier release left it at the upgrade: its run failing
    await publishEvent(
      js,
      buildEvent({
        repository: repo,
        runId: "960",
        pipeline: workflow,
        status: "failure",
        at: "2024-05-01T09:00:00Z",
      }),
    );
    const failed = await until(async () => (await kv.get(key)) ?? undefined, "the first run's list");
    await kv.put(legacyKey, failed.value);
    await kv.delete(key);
    await until(
      async () => ((await runs()).body.runs as unknown[] | undefined)?.length === 1 || undefined,
      "one run",
    );
    // the next run of the pipeline, stored by this release, passes
    await publishEvent(
      js,
      buildEvent({
        repository: repo,
        runId: "961",
        pipeline: workflow,
        status: "success",
        at: "2024-05-01T10:00:00Z",
      }),
    );
    await until(
      async () => ((await runs()).body.runs as unknown[] | undefined)?.length === 2 || undefined,
      "both runs",
    );
    const { body } = await getJson(`${h.url}/api/v1/status?repository=${repo}&branch=main`);
    const pipelines = body.pipelines as { pipeline: string; state: string }[];
    assert.deepEqual(
      pipelines.map((p) => p.state),
      ["passing"],
      "one pipeline, its latest run's state (not the earlier release's list besides it)",
    );
    assert.equal(body.state, "passing");
    const listed = (await kv.get(key))?.json<BranchState>();
    assert.deepEqual(
      listed?.runs.map((r) => r.runId),
      ["961", "960"],
    );
    assert.equal((await kv.get(legacyKey))?.operation, "DEL", "the spelled-out list was taken over");
  });

  it("streams row changes over SSE with heartbeats, and ends streams on stop", async () => {
    const h = await startService({ consume: false });
    const controller = new AbortController();
    const res = await fetch(`${h.url}/api/v1/events`, { signal: controller.signal });
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let ended = false;
    // read continuously in the background so no chunk is dropped between checks
    const pump = (async () => {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += decoder.decode(chunk.value);
      }
      ended = true;
    })().catch(() => undefined);
    const readUntil = async (pattern: RegExp) =>
      until(async () => Promise.resolve(pattern.test(text) ? text : undefined), `SSE ${pattern}`);
    await readUntil(/event: ping\ndata: {"every":\d+}/);
    await publishEvent(js, buildEvent({ repository: "acme/live", runId: "900", status: "failure" }));
    const received = await readUntil(/event: row\nid: \d+\ndata: .*s-failing/);
    assert.match(received, /acme\/live/);
    await h.service.stop();
    await until(async () => Promise.resolve(ended ? true : undefined), "stream end");
    await pump;
    controller.abort();
  });
});
