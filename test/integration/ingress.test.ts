import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { JetStreamManager } from "@nats-io/jetstream";
import { Spool } from "../../src/bus/spool.ts";
import { parseBuildEvent } from "../../src/events/build-event.ts";
import type { BuildEvent } from "../../src/events/schema.ts";
import { buildEvent } from "../helpers/events.ts";
import { startIngress, type IngressHarness } from "../helpers/ingress.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import {
  GITHUB_SECRET,
  GITLAB_TOKEN,
  postGithub,
  postGitlab,
  postRaw,
  readFixture,
} from "../helpers/webhooks.ts";

async function streamMessages(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info("BUILD_EVENTS")).state.messages;
}

describe("ingress with real NATS", () => {
  let nats: TestServer;
  let ingress: IngressHarness;
  before(async () => {
    nats = await startNats();
    ingress = await startIngress(nats, null);
  });
  after(async () => {
    await ingress.close();
    await nats.dispose();
  });

  test("a signed workflow_run becomes one valid event on its build.* subject", async () => {
    const body = readFixture("github/workflow_run.completed.2.json");
    const before = await streamMessages(ingress.bus.jsm);
    const result = await postGithub(ingress.url, "workflow_run", body);
    assert.equal(result.status, 202, JSON.stringify(result.body));
    const events = result.body.events as Array<{ id: string; type: string }>;
    assert.equal(events.length, 1);
    assert.equal(await streamMessages(ingress.bus.jsm), before + 1);
    const stored = await ingress.bus.jsm.streams.getMessage("BUILD_EVENTS", {
      last_by_subj: events[0]!.type,
    });
    assert.ok(stored);
    assert.equal(stored.subject, events[0]!.type);
    const event = parseBuildEvent(stored.json());
    assert.equal(event.id, events[0]!.id);
    assert.equal(event.type, stored.subject);
    assert.equal(event.data.provider, "github");
    assert.match(event.traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(event.deliveryid, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  });

  test("the same webhook delivered twice stores one message", async () => {
    const body = readFixture("github/workflow_job.completed.1.json");
    const first = await postGithub(ingress.url, "workflow_job", body, { delivery: "a" });
    const count = await streamMessages(ingress.bus.jsm);
    const second = await postGithub(ingress.url, "workflow_job", body, { delivery: "b" });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.body.duplicates, 1);
    assert.equal(await streamMessages(ingress.bus.jsm), count);
  });

  test("a GitLab pipeline hook with the token is stored", async () => {
    const result = await postGitlab(ingress.url, "Pipeline Hook", readFixture("gitlab/pipeline.doc.1.json"));
    assert.equal(result.status, 202, JSON.stringify(result.body));
    const events = result.body.events as Array<{ type: string }>;
    // the job events of its finished builds, then its own
    assert.deepEqual(
      events.map((event) => event.type),
      [...Array<string>(4).fill("build.job.finished.v1"), "build.pipeline.finished.v1"],
    );
  });

  test("the webhook paths match as express routes do: any case, a trailing slash, a query", async () => {
    const pipeline = readFixture("gitlab/pipeline.doc.1.json");
    for (const path of ["/webhooks/gitlab/", "/Webhooks/GitLab", "/webhooks/gitlab?source=ci"]) {
      const result = await postRaw(`${ingress.url}${path}`, pipeline, {
        "content-type": "application/json",
        "x-gitlab-event": "Pipeline Hook",
        "x-gitlab-token": GITLAB_TOKEN,
      });
      assert.equal(result.status, 202, `${path}: ${JSON.stringify(result.body)}`);
    }
    const nested = await postRaw(`${ingress.url}/webhooks/gitlab/extra`, pipeline, {
      "content-type": "application/json",
    });
    assert.equal(nested.status, 404);
  });

  test("webhooks arriving together are each stored and answered with their own events", async () => {
    const template = readFixture("github/workflow_run.completed.2.json");
    const before = await streamMessages(ingress.bus.jsm);
    // distinct run ids: 40 different events, sent at once so many share one event-loop turn
    const bodies = Array.from({ length: 40 }, (_, i) => {
      const payload = JSON.parse(template) as { workflow_run: { id: number } };
      payload.workflow_run.id = 7_000_000 + i;
      return JSON.stringify(payload);
    });
    const results = await Promise.all(bodies.map((body) => postGithub(ingress.url, "workflow_run", body)));
    const ids = new Set<string>();
    for (const result of results) {
      assert.equal(result.status, 202, JSON.stringify(result.body));
      assert.equal(result.body.duplicates, 0);
      for (const event of result.body.events as Array<{ id: string }>) ids.add(event.id);
    }
    assert.equal(ids.size, 40);
    assert.equal(await streamMessages(ingress.bus.jsm), before + 40);
  });

  test("a secret being rotated out still verifies", async () => {
    const result = await postGithub(
      ingress.url,
      "workflow_run",
      readFixture("github/workflow_run.completed.3.json"),
      {
        secret: "old-secret",
      },
    );
    assert.equal(result.status, 202);
  });

  test("ping answers 200, unhandled events 202 ignored, and nothing is stored", async () => {
    const count = await streamMessages(ingress.bus.jsm);
    const ping = await postGithub(ingress.url, "ping", readFixture("github/ping.ex.1.json"));
    assert.equal(ping.status, 200);
    const push = await postGithub(ingress.url, "push", readFixture("github/push.ex.1.json"));
    assert.equal(push.status, 202);
    assert.deepEqual(push.body, { ignored: "push" });
    const gitlabPush = await postGitlab(ingress.url, "Push Hook", readFixture("gitlab/push.doc.1.json"));
    assert.deepEqual(gitlabPush.body, { ignored: "Push Hook" });
    // GitHub Actions' own check suite: its workflow_run carries the same build
    const suite = await postGithub(
      ingress.url,
      "check_suite",
      readFixture("github/check_suite.cogni-real.completed.json"),
    );
    assert.equal(suite.status, 202);
    assert.deepEqual(suite.body, {
      ignored: "check_suite",
      reason: "GitHub Actions check suites are reported by workflow_run events",
    });
    assert.equal(await streamMessages(ingress.bus.jsm), count);
  });

  test("bad signatures, tokens and bodies get specific JSON errors and store nothing", async () => {
    const body = readFixture("github/workflow_run.completed.1.json");
    const count = await streamMessages(ingress.bus.jsm);
    const cases: Array<
      [string, () => Promise<{ status: number; body: Record<string, unknown> }>, number, string]
    > = [
      [
        "wrong secret",
        () => postGithub(ingress.url, "workflow_run", body, { secret: "nope" }),
        401,
        "invalid_signature",
      ],
      [
        "no signature",
        () =>
          postRaw(`${ingress.url}/webhooks/github`, body, {
            "content-type": "application/json",
            "x-github-event": "workflow_run",
          }),
        401,
        "missing_signature",
      ],
      [
        "wrong token",
        () => postGitlab(ingress.url, "Pipeline Hook", "{}", { token: "nope" }),
        401,
        "invalid_token",
      ],
      ["malformed JSON", () => postGithub(ingress.url, "workflow_run", "{not json"), 400, "malformed_json"],
      [
        "not the event it claims",
        () => postGithub(ingress.url, "workflow_run", '{"action":"completed"}'),
        400,
        "invalid_payload",
      ],
      [
        "event header contradicts object_kind",
        () => postGitlab(ingress.url, "Job Hook", readFixture("gitlab/pipeline.doc.1.json")),
        400,
        "invalid_payload",
      ],
      [
        "wrong content type",
        () => postGithub(ingress.url, "workflow_run", body, { headers: { "content-type": "text/plain" } }),
        415,
        "unsupported_media_type",
      ],
      [
        "over the size limit",
        () => postGithub(ingress.url, "workflow_run", "x".repeat(1024 * 1024 + 1)),
        413,
        "payload_too_large",
      ],
    ];
    for (const [name, send, status, code] of cases) {
      const result = await send();
      assert.equal(result.status, status, `${name}: ${JSON.stringify(result.body)}`);
      assert.equal(result.body.error, code, name);
      assert.equal(typeof result.body.message, "string", name);
      assert.doesNotMatch(JSON.stringify(result.body), new RegExp(GITHUB_SECRET), name);
    }
    assert.equal(await streamMessages(ingress.bus.jsm), count);
    const health = await fetch(`${ingress.url}/healthz`);
    assert.equal(health.status, 200);
  });

  test("a refused webhook's log line names the event it claims cut short, whatever its length", async () => {
    // anyone can send these: the event header is not signed and the refusal is logged at info,
    // so a 15 KB name made every refused request a 15 KB line (6,000 a minute per address)
    const claimed = `workflow_run${"A".repeat(15_000)}`;
    const from = ingress.logs.length;
    const github = await postRaw(`${ingress.url}/webhooks/github`, "{}", {
      "content-type": "application/json",
      "x-github-event": claimed,
    });
    const gitlab = await postRaw(`${ingress.url}/webhooks/gitlab`, "{}", {
      "content-type": "application/json",
      "x-gitlab-event": claimed,
      "x-gitlab-token": "nope",
    });
    assert.deepEqual([github.status, gitlab.status], [401, 401]);
    const lines = ingress.logs.slice(from).filter((line) => line.includes("webhook rejected"));
    assert.equal(lines.length, 2);
    for (const line of lines) {
      const { event } = JSON.parse(line) as { event: string };
      assert.ok(line.length < 1024, `a line of ${line.length} characters`);
      assert.match(event, /^workflow_runA+…$/);
    }
  });
});

describe("ingress while NATS is down", () => {
  test("without a spool: 503, and after NATS returns the same webhook is accepted", async () => {
    const nats = await startNats();
    const ingress = await startIngress(nats, null);
    try {
      const body = readFixture("github/workflow_run.completed.1.json");
      await nats.stop();
      const refused = await postGithub(ingress.url, "workflow_run", body);
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.error, "unavailable");
      assert.equal(refused.headers.get("retry-after"), "5");
      await nats.restart();
      await waitFor(() => ingress.bus.connected());
      const accepted = await postGithub(ingress.url, "workflow_run", body);
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      assert.equal(await streamMessages(ingress.bus.jsm), 1);
    } finally {
      await ingress.close();
      await nats.dispose();
    }
  });

  test("without a spool, a frozen NATS: every webhook still tries JetStream, its only chance", async () => {
    const nats = await startNats();
    const ingress = await startIngress(nats, null); // publishTimeout 1s
    const pid = nats.pid();
    assert.ok(pid);
    try {
      process.kill(pid, "SIGSTOP");
      for (let i = 0; i < 2; i++) {
        const started = performance.now();
        const refused = await postGithub(
          ingress.url,
          "workflow_run",
          workflowRun({ runId: 8_100_000 + i, status: "completed", at: 100 }),
        );
        assert.equal(refused.status, 503, JSON.stringify(refused.body));
        assert.ok(performance.now() - started >= 900, "it waited for JetStream's ack");
      }
      assert.equal(ingress.publisher.unanswered(), false, "nowhere else to send webhooks to");
      process.kill(pid, "SIGCONT");
      const accepted = await postGithub(
        ingress.url,
        "workflow_run",
        workflowRun({ runId: 8_100_002, status: "completed", at: 100 }),
      );
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      assert.equal(accepted.body.spooled, 0);
    } finally {
      process.kill(pid, "SIGCONT");
      await ingress.close();
      await nats.dispose();
    }
  });

  test("with a spool: 202, and the spooled events reach the stream once NATS is back", async () => {
    const nats = await startNats();
    const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-spool-"));
    const ingress = await startIngress(nats, spoolDir);
    try {
      await nats.stop();
      const bodies = [
        "workflow_run.completed.1.json",
        "workflow_run.completed.2.json",
        "workflow_job.completed.1.json",
      ];
      const ids = new Set<string>();
      for (const name of bodies) {
        const result = await postGithub(ingress.url, name.split(".")[0]!, readFixture(`github/${name}`));
        assert.equal(result.status, 202);
        assert.equal(result.body.spooled, 1);
        for (const event of result.body.events as Array<{ id: string }>) ids.add(event.id);
      }
      assert.equal(ids.size, 3);
      // one of them again: the spool keeps it, JetStream will drop the copy by its id
      await postGithub(ingress.url, "workflow_run", readFixture(`github/${bodies[0]}`));
      assert.equal(spoolFiles(spoolDir), 1);
      // each webhook has its own "webhook spooled" line; the warning comes once per 30 s
      const warnings = ingress.logs.filter((line) => line.includes("events spooled to disk"));
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.equal(ingress.logs.filter((line) => line.includes('"webhook spooled"')).length, 4);
      await nats.restart();
      await waitFor(() => ingress.bus.connected());
      await ingress.publisher.flush();
      assert.equal(await streamMessages(ingress.bus.jsm), 3);
      assert.equal(spoolFiles(spoolDir), 0, "a flushed segment is removed");
      // republished as published at once: structured-mode CloudEvents by the NATS binding
      const stored = await ingress.bus.jsm.streams.getMessage("BUILD_EVENTS", { seq: 1 });
      assert.equal(stored?.header.get("Content-Type"), "application/cloudevents+json; charset=utf-8");
    } finally {
      await ingress.close();
      await nats.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  });
});

describe("ingress while NATS is down and the spool fills up", () => {
  test("webhooks arriving together are each 202 and on disk, or 503 and not, as the spool runs out", async () => {
    const nats = await startNats();
    const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-spool-"));
    const ingress = await startIngress(nats, spoolDir); // a 1 MiB spool
    try {
      await nats.stop();
      const ids = new Set<string>();
      let refused = 0;
      // 32 at a time, so that they are spooled together, until a whole round is refused
      for (let round = 0; round < 40; round++) {
        const results = await Promise.all(
          Array.from({ length: 32 }, (_, k) =>
            postGithub(
              ingress.url,
              "workflow_run",
              workflowRun({ runId: 8_000_000 + round * 32 + k, status: "completed", at: 100 }),
            ),
          ),
        );
        for (const result of results) {
          if (result.status === 503) {
            assert.equal(result.body.error, "unavailable");
            assert.match(String(result.body.message), /spool is full/);
            refused += 1;
            continue;
          }
          assert.equal(result.status, 202, JSON.stringify(result.body));
          assert.equal(result.body.spooled, 1);
          for (const event of result.body.events as Array<{ id: string }>) ids.add(event.id);
        }
        if (results.every((result) => result.status === 503)) break;
      }
      assert.ok(ids.size > 100 && refused >= 32, `${ids.size} spooled, ${refused} refused`);
      // what is on disk is exactly what was answered 202
      const onDisk: string[] = [];
      await new Spool(spoolDir, 1024 * 1024).drain(async (event) => {
        onDisk.push(event.id);
      });
      assert.equal(onDisk.length, ids.size);
      assert.deepEqual(new Set(onDisk), ids);
    } finally {
      await ingress.close();
      await nats.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  });
});

describe("events too large for NATS", () => {
  const withHead = (mutate: (payload: { workflow_run: Record<string, unknown> }) => void): string => {
    const payload = JSON.parse(readFixture("github/workflow_run.completed.1.json")) as {
      workflow_run: Record<string, unknown>;
    };
    mutate(payload);
    return JSON.stringify(payload);
  };

  test("a one-line commit message of a megabyte is stored with its title cut; an event NATS cannot carry is a 413 and is not spooled", async () => {
    const nats = await startNats();
    const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-spool-"));
    const ingress = await startIngress(nats, spoolDir, { server: { bodyLimit: "4mb" } });
    try {
      const long = withHead((p) => {
        (p.workflow_run.head_commit as Record<string, unknown>).message = "x".repeat(1_100_000);
      });
      const stored = await postGithub(ingress.url, "workflow_run", long);
      assert.equal(stored.status, 202, JSON.stringify(stored.body));
      const [ref] = stored.body.events as Array<{ type: string }>;
      const message = await ingress.bus.jsm.streams.getMessage("BUILD_EVENTS", { last_by_subj: ref!.type });
      const title = parseBuildEvent(message?.json()).data.commit.title ?? "";
      assert.equal(title.length, 1000);
      assert.ok(title.endsWith("…"));

      const before = await streamMessages(ingress.bus.jsm);
      // a workflow named with a megabyte: no field of the event is cut but the title
      const huge = withHead((p) => {
        p.workflow_run.id = 4_242_424;
        (p as Record<string, unknown>).workflow = { name: "n".repeat(1_100_000) };
      });
      for (const connected of [true, false]) {
        if (!connected) await nats.stop();
        const refused = await postGithub(ingress.url, "workflow_run", huge);
        assert.equal(refused.status, 413, JSON.stringify(refused.body).slice(0, 300));
        assert.equal(refused.body.error, "event_too_large");
        assert.match(String(refused.body.message), /max_payload/);
      }
      assert.equal(spoolFiles(spoolDir), 0, "never spooled, where it would block the events behind it");
      await nats.restart();
      await waitFor(() => ingress.bus.connected());
      assert.equal(await streamMessages(ingress.bus.jsm), before);
    } finally {
      await ingress.close();
      await nats.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  });

  test("an oversized event an older version spooled is logged and dropped, not left blocking the spool", async () => {
    const nats = await startNats();
    const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-spool-"));
    const normal = (id: string): BuildEvent => {
      const event = buildEvent({ runId: id, status: "failure" });
      return event;
    };
    const oversized = {
      ...normal("1"),
      data: { ...normal("1").data, run: { ...normal("1").data.run, name: "n".repeat(1_100_000) } },
    };
    const old = new Spool(spoolDir, 10 * 1024 * 1024);
    old.append([oversized, normal("2"), normal("3")]);
    old.close();
    const ingress = await startIngress(nats, spoolDir);
    try {
      await ingress.publisher.flush();
      assert.equal(await streamMessages(ingress.bus.jsm), 2);
      assert.equal(spoolFiles(spoolDir), 0);
      assert.ok(ingress.logs.some((line) => line.includes("spooled event too large for NATS")));
      const republished = ingress.logs
        .map((line) => JSON.parse(line) as { msg: string; events?: number })
        .find((line) => line.msg === "spooled events republished to JetStream");
      assert.equal(republished?.events, 2, "the dropped event is not counted as republished");
    } finally {
      await ingress.close();
      await nats.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  });
});

function spoolFiles(dir: string): number {
  return readdirSync(dir).filter((name) => name.endsWith(".jsonl")).length;
}

async function waitFor(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
