import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { nanos } from "@nats-io/nats-core";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import express from "express";
import { ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { createStatusService, type StatusService } from "../../src/status/index.ts";
import { refreshKeptBranches, startRetention } from "../../src/status/retention.ts";
import { branchStoreKey, runStoreKey } from "../../src/status/keys.ts";
import type { BranchState } from "../../src/status/model.ts";
import { buildEvent, publishEvent, type EventSpec } from "../helpers/events.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

const REPO = "acme/retained";
const REPO_ID = "4242";

describe("status retention against a real NATS", () => {
  let nats: TestServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const running: { service: StatusService; server: Server }[] = [];

  // seconds instead of days: set after validation, which refuses less than a minute
  const configFor = (bucket: string, retention: number) => {
    const loaded = loadConfig({
      env: {},
      overrides: {
        status: { bucket, keepBranches: ["main", "release/*"] },
        nats: { consumer: { ackWait: 5000, maxDeliver: 5 } },
      },
    });
    return { ...loaded, config: { ...loaded.config, status: { ...loaded.config.status, retention } } };
  };

  const metrics = createMetrics();
  const listsHeld = async () => (await metrics.statusBranchLists.get()).values[0]?.value;

  async function startService(
    bucket: string,
    retention: number,
  ): Promise<{ url: string; stop(): Promise<void> }> {
    const { config, secrets } = configFor(bucket, retention);
    const service = createStatusService({
      nc,
      js,
      jsm,
      config,
      secrets: { ...secrets, apiToken: null },
      logger: createLogger({ level: "silent", secrets: [] }),
      metrics,
    });
    await service.start();
    const app = express();
    app.use(service.router);
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    const entry = { service, server };
    running.push(entry);
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      stop: async () => {
        running.splice(running.indexOf(entry), 1);
        await service.stop();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  const event = (spec: EventSpec) =>
    buildEvent({ repository: REPO, repositoryId: REPO_ID, status: "success", ...spec });
  const branchKey = (branch: string) => branchStoreKey("github", REPO, branch, "CI");
  const runKey = (runId: string) => runStoreKey("github", REPO_ID, runId);
  const BRANCHES = ["feature/x", "main", "old-feature", "release/1.x"];
  /** the branches of REPO the API answers for (it reads this replica's view) */
  const branchesShown = async (url: string): Promise<string[]> => {
    const shown: string[] = [];
    for (const branch of BRANCHES) {
      const q = `repository=${encodeURIComponent(REPO)}&branch=${encodeURIComponent(branch)}`;
      const res = await fetch(`${url}/api/v1/status?${q}`);
      await res.arrayBuffer();
      if (res.status === 200) shown.push(branch);
    }
    return shown;
  };
  const present = async (kv: KV, key: string) => (await kv.get(key))?.operation === "PUT";

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, configFor("UNUSED", 0).config.nats.stream);
  });

  after(async () => {
    for (const entry of [...running]) {
      await entry.service.stop();
      entry.server.closeAllConnections();
      entry.server.close();
    }
    await nc.drain();
    await nats.dispose();
  });

  it("forgets quiet branches and their runs, keeps main's list, and takes a branch back when it builds again", async () => {
    const retention = 3000;
    const h = await startService("RETAIN_A", retention);
    const kv = await new Kvm(nc).open("RETAIN_A");
    assert.equal((await jsm.streams.info("KV_RETAIN_A")).config.max_age, nanos(retention));

    await publishEvent(js, event({ branch: "main", runId: "1" }));
    await publishEvent(js, event({ branch: "feature/x", runId: "2", status: "failure" }));
    await publishEvent(js, event({ branch: "release/1.x", runId: "3" }));
    await eventually(
      async () => ((await branchesShown(h.url)).length === 3 ? true : undefined),
      "three branches listed",
    );
    assert.equal(await listsHeld(), 3);
    const mainBefore = (await kv.get(branchKey("main")))?.revision ?? 0;
    const featureRevision = (await kv.get(branchKey("feature/x")))?.revision ?? 0;
    // a dashboard watching live is told when the quiet branch goes
    const controller = new AbortController();
    const feed = await fetch(`${h.url}/api/v1/events`, { signal: controller.signal });
    let frames = "";
    const pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of feed.body as unknown as AsyncIterable<Uint8Array>)
        frames += decoder.decode(chunk);
    })().catch(() => undefined);

    // the quiet feature branch leaves the API (this replica's view) and the bucket
    await eventually(
      async () => ((await branchesShown(h.url)).includes("feature/x") ? undefined : true),
      "feature/x forgotten by the view",
    );
    await eventually(
      async () => ((await present(kv, branchKey("feature/x"))) ? undefined : true),
      "feature/x list expired in KV",
    );
    await eventually(
      async () => ((await present(kv, runKey("2"))) ? undefined : true),
      "run 2 expired in KV",
    );
    const removal = await eventually(
      () => Promise.resolve(/id: (\d+)\ndata: (\{[^\n]*"html":null[^\n]*\})/.exec(frames) ?? undefined),
      "the row's removal on the live feed",
    );
    const rowOfFeature = `row-${Buffer.from(`github\u0000${REPO}\u0000feature/x`).toString("base64url")}`;
    assert.equal((JSON.parse(removal[2] ?? "{}") as { id?: string }).id, rowOfFeature);
    assert.ok(
      Number(removal[1]) > featureRevision,
      "a removal carries the feed's current revision, not the expired list's older one",
    );
    controller.abort();
    await pump;

    // kept branches outlive several retention periods, refreshed in place
    await sleep(2 * retention);
    assert.deepEqual(await branchesShown(h.url), ["main", "release/1.x"]);
    assert.equal(await listsHeld(), 2, "the gauge follows the lists the view dropped");
    const main = await kv.get(branchKey("main"));
    assert.equal(main?.operation, "PUT");
    assert.ok((main?.revision ?? 0) > mainBefore, "main's list was rewritten to stay young");
    assert.deepEqual(
      main?.json<BranchState>().runs.map((run) => run.runId),
      ["1"],
      "the refresh rewrote the same list",
    );
    // a run record is kept for the retention after its last update, even when a kept list names it
    assert.equal(await present(kv, runKey("1")), false);
    const badge = await (await fetch(`${h.url}/badge.svg?repository=${REPO}&branch=main`)).text();
    assert.match(badge, /passing/, "main's badge survives its quiet spell");

    // a forgotten branch that builds again starts a new list
    await publishEvent(js, event({ branch: "feature/x", runId: "4" }));
    await eventually(
      async () => ((await branchesShown(h.url)).includes("feature/x") ? true : undefined),
      "feature/x back",
    );
    const revived = await eventually(
      async () => (await kv.get(branchKey("feature/x")))?.json<BranchState>(),
      "list",
    );
    assert.deepEqual(
      revived.runs.map((run) => run.runId),
      ["4"],
    );
    await h.stop();
  });

  it("refreshes a kept list only by compare-and-set, and leaves the max age alone while a refresh fails", async () => {
    const kv = await new Kvm(nc).create("RETAIN_C");
    const logger = createLogger({ level: "silent", secrets: [] });
    const list = (runs: string[]) => JSON.stringify({ runs });
    await kv.put(branchKey("main"), list(["old"]));
    await kv.put(branchKey("release/2.x"), list(["old"]));
    await kv.put(branchKey("feature/y"), list(["old"]));
    await sleep(300);
    // another replica writes main between this replica's read and its rewrite
    const racing = new Proxy(kv, {
      get(target, property) {
        if (property === "get") {
          return async (key: string) => {
            const entry = await target.get(key);
            if (key === branchKey("main")) await target.put(key, list(["newer"]));
            return entry;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const options = {
      kv: racing,
      jsm,
      stream: "KV_RETAIN_C",
      retentionMs: 600,
      keepBranches: ["main", "release/*"],
      logger,
    };
    assert.deepEqual(await refreshKeptBranches(options), { refreshed: 1, failed: 0 });
    assert.deepEqual(
      (await kv.get(branchKey("main")))?.json(),
      { runs: ["newer"] },
      "the other write stands",
    );
    assert.equal((await kv.get(branchKey("feature/y")))?.revision, 3, "not a kept branch: untouched");

    // a refresh that fails for another reason: logged, retried later, no max age meanwhile
    await sleep(300);
    const failing = new Proxy(kv, {
      get(target, property) {
        if (property === "update") return () => Promise.reject(new Error("simulated timeout"));
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const retention = await startRetention({ ...options, kv: failing, everyMs: 60_000 });
    assert.equal((await jsm.streams.info("KV_RETAIN_C")).config.max_age, 0);
    await retention.stop();
    const working = await startRetention({ ...options, kv, everyMs: 60_000 });
    assert.equal((await jsm.streams.info("KV_RETAIN_C")).config.max_age, nanos(600));
    await working.stop();
  });

  it("refuses a retention under a minute in the config", () => {
    assert.throws(
      () => loadConfig({ env: {}, overrides: { status: { retention: "30s" } } }),
      /status\.retention.*at least 1m/s,
    );
    assert.equal(loadConfig({ env: {}, overrides: { status: { retention: 0 } } }).config.status.retention, 0);
    assert.equal(loadConfig({ env: {} }).config.status.retention, 90 * 86_400_000);
  });

  it("turning retention on for a bucket that kept everything keeps old kept lists, drops the rest", async () => {
    const h1 = await startService("RETAIN_B", 0);
    const kv = await new Kvm(nc).open("RETAIN_B");
    await publishEvent(js, event({ branch: "main", runId: "11" }));
    await publishEvent(js, event({ branch: "old-feature", runId: "12" }));
    await eventually(
      async () => ((await branchesShown(h1.url)).length === 2 ? true : undefined),
      "two branches listed",
    );
    assert.equal((await jsm.streams.info("KV_RETAIN_B")).config.max_age, 0);
    await h1.stop();

    // both lists are now older than the retention about to be turned on
    await sleep(2500);
    const h2 = await startService("RETAIN_B", 2000);
    const info = await jsm.streams.info("KV_RETAIN_B");
    assert.equal(info.config.max_age, nanos(2000));
    assert.ok((info.config.duplicate_window ?? 0) <= nanos(2000), "duplicate window fits the max age");
    assert.equal(await present(kv, branchKey("main")), true, "main refreshed before the max age applied");
    assert.deepEqual(await branchesShown(h2.url), ["main"], "the view dropped the old branch at once");
    await eventually(
      async () => ((await present(kv, branchKey("old-feature"))) ? undefined : true),
      "expired",
    );
    await h2.stop();

    // and off again: nothing expires any more
    const h3 = await startService("RETAIN_B", 0);
    assert.equal((await jsm.streams.info("KV_RETAIN_B")).config.max_age, 0);
    await sleep(2500);
    assert.equal(await present(kv, branchKey("main")), true);
    await h3.stop();
  });
});
