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
import type { BuildEvent } from "../../src/events/schema.ts";
import type { BranchState } from "../../src/status/model.ts";
import { applyEventsToStore } from "../../src/status/store.ts";
import { buildEvent } from "../helpers/events.ts";
import { eventually } from "../helpers/poll.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

/** NATS's default max_payload: no KV value may be larger */
const MAX_PAYLOAD = 1024 * 1024;

interface RunSummaryBody {
  runId: string;
  state: string;
  failedJobs: { name: string }[];
  failedJobCount?: number;
}

/**
 * A GitLab `parallel: matrix` job's name: the job and its matrix values, some 190 characters.
 * Numbered so that every job of a run has a name of its own.
 */
const matrixJobName = (n: number): string =>
  `integration-tests: [ubuntu-22.04-amd64-large, node-20.11.1, postgres-16.2-alpine, redis-7.2, ` +
  `kafka-3.6, elasticsearch-8.12, packages/services/payments-reconciliation-worker, shard ${n}/400]`;

/** The job events of one GitLab pipeline of `jobs` jobs, every `failEvery`-th failing, then its pipeline event. */
function pipelineEvents(
  runId: string,
  minute: number,
  jobs: number,
  failEvery: number,
  extra: { repository: string; branch: string },
): BuildEvent[] {
  const at = (second: number): string =>
    `2024-05-01T${String(10 + Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}:${String(second).padStart(2, "0")}Z`;
  const common = { provider: "gitlab" as const, runId, runNumber: Number(runId), createdAt: at(0), ...extra };
  const events: BuildEvent[] = [];
  for (let i = 0; i < jobs; i++) {
    events.push(
      buildEvent({
        ...common,
        status: i % failEvery === 0 ? "failure" : "success",
        at: at(30),
        job: { id: `${runId}${String(i).padStart(5, "0")}`, name: matrixJobName(i), stage: "test" },
      }),
    );
  }
  events.push(buildEvent({ ...common, status: "failure", at: at(50) }));
  return events;
}

describe("status store with runs of thousands of jobs", () => {
  let nats: TestServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let service: StatusService;
  let server: Server;
  let url: string;
  const loaded = () =>
    loadConfig({
      env: {},
      overrides: { nats: { consumer: { ackWait: 5000, maxDeliver: 3 } } },
    });

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    const { config, secrets } = loaded();
    await ensureStreams(jsm, config.nats.stream);
    service = createStatusService({
      nc,
      js,
      jsm,
      config,
      secrets: { ...secrets, apiToken: null },
      logger: createLogger({ level: "silent", secrets: [] }),
      heartbeatMs: 200,
    });
    await service.start();
    const app = express();
    app.use(service.router);
    server = await new Promise((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await service.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await nc.drain();
    await nats.dispose();
  });

  const publishAll = async (events: readonly BuildEvent[]): Promise<void> => {
    for (let i = 0; i < events.length; i += 200) {
      await Promise.all(
        events
          .slice(i, i + 200)
          .map((event) => js.publish(event.type, JSON.stringify(event), { msgID: event.id })),
      );
    }
  };

  const runsOf = async (repository: string, branch: string): Promise<RunSummaryBody[] | undefined> => {
    const q = `repository=${encodeURIComponent(repository)}&branch=${encodeURIComponent(branch)}&pipeline=CI&limit=50`;
    const res = await fetch(`${url}/api/v1/runs?${q}`);
    if (res.status !== 200) return undefined;
    return ((await res.json()) as { runs: RunSummaryBody[] }).runs;
  };

  it("finishes a pipeline of 2,000 jobs, its run record kept under max_payload", async () => {
    const repository = "platform/matrix";
    const branch = "main";
    const runId = "7001";
    const jobs = 2000;
    const finished = pipelineEvents(runId, 1, jobs, 50, { repository, branch });
    // GitLab hooks every job as it is created (pending) before any of them runs
    const queued = finished.slice(0, jobs).map((event) =>
      buildEvent({
        provider: "gitlab",
        repository,
        branch,
        runId,
        runNumber: Number(runId),
        status: "queued",
        createdAt: "2024-05-01T10:01:00Z",
        at: "2024-05-01T10:01:05Z",
        job: { id: event.data.job!.id, name: event.data.job!.name, stage: "test" },
      }),
    );
    await publishAll([...queued, ...finished]);
    const runs = await eventually(
      async () => {
        const listed = await runsOf(repository, branch);
        const run = listed?.[0];
        return run?.state === "failing" && (run.failedJobCount ?? run.failedJobs.length) === jobs / 50
          ? listed
          : undefined;
      },
      "the pipeline listed as failing with its 40 failed jobs",
      60_000,
    );
    assert.equal(runs[0]?.runId, runId);
    const kv = await new Kvm(nc).open(loaded().config.status.bucket);
    const record = await kv.get(runStoreKey("gitlab", `id-${repository}`, runId));
    assert.ok(record !== null && record.length < MAX_PAYLOAD, `run record of ${record?.length} bytes`);
    const detail = (await (await fetch(`${url}/api/v1/runs/gitlab/${runId}`)).json()) as {
      status: string;
      failedJobCount?: number;
      jobs: { state: string }[];
      omittedJobs?: number;
    };
    assert.equal(detail.status, "failure");
    assert.equal(detail.failedJobCount, 40);
    assert.equal(detail.jobs.length + (detail.omittedJobs ?? 0), jobs, "the jobs listed and counted");
    assert.equal(detail.jobs.filter((job) => job.state === "failing").length, 40, "failed jobs are kept");
  });

  it("keeps a branch list of up to 500 runs within max_payload, dropping its oldest runs", async () => {
    // status.runsPerBranch may be up to 500: 200 runs of 25 failed matrix jobs are 1.4 MB of
    // summaries, and the list stopped at 148 runs, every later run of the branch refused
    const kv = await new Kvm(nc).create("huge-branch", { history: 1 });
    const repository = "platform/long-history";
    for (let n = 1; n <= 200; n++) {
      const runId = String(6000 + n);
      const events = pipelineEvents(runId, n, 25, 1, { repository, branch: "main" });
      await applyEventsToStore({ kv, runsPerBranch: 200 }, events);
    }
    const entry = await kv.get(branchStoreKey("gitlab", repository, "main", "CI"));
    assert.ok(entry !== null && entry.length < MAX_PAYLOAD, `branch list of ${entry?.length} bytes`);
    const runs = entry.json<BranchState>().runs;
    assert.equal(runs[0]?.runId, "6200", "the newest run is listed");
    assert.ok(runs.length > 100, `${runs.length} runs kept`);
    assert.deepEqual(
      runs.map((run) => run.runId),
      Array.from({ length: runs.length }, (_, i) => String(6200 - i)),
      "the newest ones, newest first",
    );
  });

  it("keeps listing a branch's runs when each of them failed hundreds of jobs", async () => {
    const repository = "platform/monorepo";
    const branch = "main";
    // twelve pipelines of 300 failed matrix jobs: their failed jobs alone once made the
    // branch list pass NATS's max_payload, and no later run of the branch could be listed
    for (let n = 1; n <= 12; n++) {
      await publishAll(pipelineEvents(String(5000 + n), n, 300, 1, { repository, branch }));
    }
    const runs = await eventually(
      async () => {
        const listed = await runsOf(repository, branch);
        const complete = listed?.every((run) => (run.failedJobCount ?? run.failedJobs.length) === 300);
        return listed?.length === 12 && complete === true ? listed : undefined;
      },
      "twelve runs listed with all their failed jobs",
      60_000,
    );
    assert.equal(runs[0]?.runId, "5012");
    assert.equal(runs[0]?.state, "failing");
    for (const run of runs) {
      assert.equal(run.failedJobCount, 300, "the count says how many failed");
      assert.ok(run.failedJobs.length > 0 && run.failedJobs.length < 300, "a bounded list of them");
    }
    const kv = await new Kvm(nc).open(loaded().config.status.bucket);
    const list = await kv.get(branchStoreKey("gitlab", repository, branch, "CI"));
    assert.ok(list !== null && list.length < MAX_PAYLOAD / 2, `branch list of ${list?.length} bytes`);
  });
});
