/**
 * Soak: what grows while the gateway runs. Starts a private nats-server (with monitoring),
 * redis-server, Slack-API server and SMTP sink, and the real gateway (role all, every route
 * to Slack and e-mail); posts runs of distinct repositories and branches (queued, in
 * progress, completed; a third of them fail) at a steady rate, with a lookup of an unknown
 * run per run; every 20 s and after a quiet period prints one JSON line of what a leak would
 * move: the gateway's heap and RSS, its open file descriptors, Redis keys by pattern, KV keys
 * per bucket, consumers and subscriptions on the NATS server.
 *
 *   npx tsx bench/soak.ts [seconds=120] [runs per second=40]
 *   node --expose-gc --import tsx bench/soak.ts [seconds] [rate] [--snapshot] [--dashboard]
 *
 * With --expose-gc the gateway runs with it too (bench/soak-heap-hook.ts) and each line adds
 * `heapAfterGcMB`, read after forced collections (with the heap's total size and the memory
 * outside it, `externalMB` and `arrayBuffersMB`), and `kBPerList`: its growth since the first
 * sample under load, per branch list the gateway's view took on since (each run a new
 * repository and branch: one list; counted by the gateway, so consumers lagging behind the
 * webhooks do not skew it). With
 * --snapshot the gateway also writes a heap snapshot at that first sample and at the end, into
 * the temporary directory printed at the start (bench/heap-diff.ts compares two). With
 * --dashboard a live dashboard feed (/api/v1/events) stays open and read all along.
 *
 * What should hold (2026-12-02, 10,680 webhooks): Slack jobs in Redis level off at 1,000
 * (removeOnComplete), dedup keys go when their jobs end, e-mail jobs are kept (a week,
 * 100,000 at most), KV keys grow by run until the bucket's max age, consumers and
 * subscriptions stay flat, descriptors return to their starting count once idle. Heap after a
 * forced GC grows by ~2.1 kB per run (8,520 runs), the status view's share: docs/operations.md,
 * "Memory beside the view".
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { startGatewayProcess } from "../test/helpers/gateway-process.ts";
import { freePort, startNats, startRedis } from "../test/helpers/servers.ts";
import { startSlackServer } from "../test/helpers/slack-server.ts";
import { startSmtpSink } from "../test/helpers/smtp-sink.ts";
import { workflowRun } from "../test/helpers/synthetic-webhooks.ts";
import { postGithub } from "../test/helpers/webhooks.ts";

const args = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const seconds = Number(args[0] ?? 120);
const rate = Number(args[1] ?? 40);
const forceGc = typeof (globalThis as { gc?: unknown }).gc === "function";
const snapshots = forceGc && process.argv.includes("--snapshot");
const dashboard = process.argv.includes("--dashboard");
const monitor = await freePort();
const nats = await startNats(undefined, { args: ["-m", String(monitor)] });
const redis = await startRedis();
const slack = await startSlackServer();
const smtp = await startSmtpSink();
const dir = mkdtempSync(join(tmpdir(), "buildcast-soak-"));
const configFile = join(dir, "soak.yaml");
writeFileSync(
  configFile,
  JSON.stringify({
    role: "all",
    server: { webhookRateLimit: { window: "1m", max: 100_000_000 } },
    dev: { startServers: false, dataDir: dir },
    spool: { dir: join(dir, "spool") },
    log: { level: "warn", pretty: false },
    routes: [
      {
        name: "all",
        match: {},
        on: ["started", "failed", "still_failing", "fixed", "succeeded", "canceled"],
        slack: { channel: "C0SOAK" },
        email: { to: ["ops@example.com"] },
      },
    ],
  }),
);
const heapFile = join(dir, "heap.json");
const hook = join(dirname(fileURLToPath(import.meta.url)), "soak-heap-hook.ts");
const gateway = await startGatewayProcess(
  {
    BUILDCAST_CONFIG: configFile,
    NATS_URL: nats.url,
    REDIS_URL: redis.url,
    SLACK_BOT_TOKEN: "xoxb-soak",
    SLACK_API_URL: slack.apiUrl,
    SMTP_URL: smtp.url,
    LOG_LEVEL: "warn",
    BUILDCAST_SOAK_HEAP_FILE: heapFile,
  },
  undefined,
  forceGc ? ["--expose-gc", "--import", hook] : [],
);
if (snapshots) console.log(JSON.stringify({ snapshots: dir }));
const pid = gateway.child.pid ?? 0;
const redisClient = new Redis(redis.url);
const nc = await connect({ servers: nats.url });
const kvm = new Kvm(nc);

interface HeapAfterGc {
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** The gateway's memory after forced collections (and a snapshot when `snapshot` names one). */
async function heapAfterGc(snapshot?: string): Promise<HeapAfterGc> {
  rmSync(heapFile, { force: true });
  if (snapshot) writeFileSync(`${heapFile}.snapshot`, snapshot);
  process.kill(pid, "SIGUSR2");
  const deadline = Date.now() + 120_000;
  while (!existsSync(heapFile)) {
    if (Date.now() > deadline) throw new Error("the gateway did not answer SIGUSR2 within 120 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return JSON.parse(readFileSync(heapFile, "utf8")) as HeapAfterGc;
}

let baseline: { heap: number; lists: number } | undefined;

async function sample(label: string, snapshot?: string): Promise<void> {
  const gcFigures: Record<string, number> = {};
  const after = forceGc ? await heapAfterGc(snapshot) : undefined;
  if (after) {
    const heap = after.heapUsed;
    const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;
    gcFigures.heapAfterGcMB = mb(heap);
    gcFigures.heapTotalMB = mb(after.heapTotal);
    gcFigures.externalMB = mb(after.external);
    gcFigures.arrayBuffersMB = mb(after.arrayBuffers);
  }
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  const lists = Number(/^buildcast_status_branch_lists (\d+)/m.exec(metrics)?.[1] ?? 0);
  if (after) {
    const heap = after.heapUsed;
    if (baseline && lists > baseline.lists)
      gcFigures.kBPerList = Math.round((heap - baseline.heap) / (lists - baseline.lists) / 10) / 100;
    else if (!baseline && lists > 0) baseline = { heap, lists };
  }
  const heapMB = Number(/nodejs_heap_size_used_bytes (\d+)/.exec(metrics)?.[1] ?? 0) / 1e6;
  const rssMB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1e3;
  const redisKeys: Record<string, number> = {};
  for (const key of await redisClient.keys("*")) {
    // job ids and hashes become #, so a key space is one line however many keys it holds
    const pattern = key.replace(/([:-])(?:[0-9a-f]{8,}|\d+)(?=:|$)/g, "$1#");
    redisKeys[pattern] = (redisKeys[pattern] ?? 0) + 1;
  }
  const kvKeys: Record<string, number> = {};
  for await (const bucket of kvm.list()) kvKeys[bucket.bucket] = bucket.values;
  const jsz = (await (await fetch(`http://127.0.0.1:${monitor}/jsz`)).json()) as { consumers: number };
  const connz = (await (await fetch(`http://127.0.0.1:${monitor}/connz`)).json()) as {
    connections: { subscriptions: number }[];
  };
  const subscriptions = connz.connections.reduce((sum, c) => sum + c.subscriptions, 0);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const line = {
    label,
    lists,
    heapMB,
    ...gcFigures,
    rssMB,
    fds,
    consumers: jsz.consumers,
    subscriptions,
    kvKeys,
    redisKeys,
  };
  console.log(JSON.stringify(line));
}

await sample("start");
// a dashboard open all along: its live feed read and thrown away, its row events counted
const feed = new AbortController();
let rowEvents = 0;
const dashboardRead = dashboard
  ? (async () => {
      const response = await fetch(`${gateway.url}/api/v1/events`, { signal: feed.signal });
      const decoder = new TextDecoder();
      let partial = "";
      for await (const chunk of response.body ?? []) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
        partial = lines.pop() ?? "";
        rowEvents += lines.filter((line) => line === "event: row").length;
      }
    })().catch(() => undefined)
  : Promise.resolve();
let runId = 1_000_000;
let sent = 0;
let refused = 0;
const started = Date.now();
let nextSample = started + 20_000;
while (Date.now() - started < seconds * 1000) {
  const tick = Date.now();
  await Promise.all(
    Array.from({ length: rate }, async () => {
      const id = runId++;
      const run = { branch: `feature/${id}`, repository: `org${id % 50}/repo${id % 997}` };
      const conclusion = id % 3 === 0 ? "failure" : "success";
      for (const [status, at] of [
        ["queued", 2],
        ["in_progress", 3],
        ["completed", 4],
      ] as const) {
        const body = workflowRun({ runId: id, status, conclusion, at, ...run });
        const answer = await postGithub(gateway.url, "workflow_run", body, { delivery: `soak-${id}-${at}` });
        sent += 1;
        if (answer.status !== 202) refused += 1;
      }
      await (await fetch(`${gateway.url}/api/v1/runs/github/unknown-${id}`)).text();
    }),
  );
  if (Date.now() >= nextSample) {
    nextSample += 20_000;
    const first = baseline === undefined;
    await sample(
      `${Math.round((Date.now() - started) / 1000)} s, ${sent} webhooks, ${refused} refused`,
      snapshots && first ? join(dir, "first.heapsnapshot") : undefined,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - tick))));
}
await new Promise((resolve) => setTimeout(resolve, 20_000));
await sample(
  `20 s idle after ${sent} webhooks, ${refused} refused`,
  snapshots ? join(dir, "last.heapsnapshot") : undefined,
);

if (dashboard) console.log(JSON.stringify({ dashboardRowEvents: rowEvents }));
feed.abort();
await dashboardRead;
await nc.close();
redisClient.disconnect();
await gateway.terminate();
await Promise.all([slack.close(), smtp.close()]);
await Promise.all([nats.dispose(), redis.dispose()]);
if (snapshots) {
  for (const name of readdirSync(dir))
    if (!name.endsWith(".heapsnapshot")) rmSync(join(dir, name), { recursive: true, force: true });
} else rmSync(dir, { recursive: true, force: true });
