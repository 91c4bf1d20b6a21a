/**
 * The consumers' cost per event: instructions a `role: workers` gateway (the status store and
 * the Slack notice consumer, as `role: all` runs them beside ingress) executes for each event,
 * counted by callgrind. The CPU time of a process on the shared bench machine drifts by a third
 * from run to run, and more while a load generator and an ingress process share its 2 cores;
 * an instruction count repeats to within a few percent, so it shows what a change to the
 * consumers did. Not part of `npm run bench`: a round takes minutes under valgrind.
 *
 * Per round: fresh nats-server and redis-server; an ingress gateway takes benchmark 1's
 * webhooks (20 KB, a run each, runs taking turns on 100 branches of a repository no route
 * sends to Slack, so every event goes through the status store and the Slack channel's lanes
 * and records in KV without a Slack call); `warmup` events are consumed first (JIT, caches),
 * then `events` more are counted from the moment they are sent until both consumers have acked
 * them. Under valgrind the consumers fall behind at once, so they take full batches, as the
 * consumers of a busy `role: all` gateway do. Also counted: the messages nats-server took in
 * and sent per event (its monitoring port), the consumers' KV requests and acks, which cost the
 * server about as much CPU as the gateway spends on them (its CPU time is not shown: spread
 * over the slow valgrind run, each request wakes it on its own and costs more than it would).
 *
 *   npm run build && node --import tsx bench/consumers.ts [events=800] [warmup=500] [rounds=1]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import { connectBus } from "../src/bus/connect.ts";
import { createLogger } from "../src/observability/logger.ts";
import { freePort, startNats, startRedis } from "../test/helpers/servers.ts";
import { waitForConsumers } from "./drain.ts";
import { BENCH_SECRET, startGatewayProcess } from "./gateway-process.ts";
import type { LoadResult, LoadSpec } from "./load.ts";
import { runTsForJson } from "./processes.ts";

const events = Number(process.argv[2] ?? 800);
const warmup = Number(process.argv[3] ?? 500);
const rounds = Number(process.argv[4] ?? 1);

interface Round {
  /** thousands of instructions of the workers process per event (every thread, user space) */
  readonly workersK: number;
  readonly natsInMsgs: number;
  readonly natsOutMsgs: number;
}

async function round(index: number, dir: string): Promise<Round> {
  const monitor = await freePort();
  const nats = await startNats(undefined, { args: ["-m", String(monitor)] });
  const redis = await startRedis();
  const varz = async (): Promise<{ in_msgs: number; out_msgs: number }> =>
    (await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json()) as { in_msgs: number; out_msgs: number };
  const slack = "http://127.0.0.1:9/api/";
  const name = `workers-${index}`;
  const ingress = await startGatewayProcess(nats, redis, slack, "ingress");
  const bus = await connectBus(
    nats.url,
    createLogger({ level: "warn", secrets: [], write: () => undefined }),
  );
  let workers: Awaited<ReturnType<typeof startGatewayProcess>> | undefined;
  try {
    workers = await startGatewayProcess(nats, redis, slack, "workers", "warn", [
      "valgrind",
      "--tool=callgrind",
      "--instr-atstart=no",
      // V8 writes and then runs its own machine code
      "--smc-check=all-non-file",
      `--callgrind-out-file=${join(dir, `${name}.out`)}`,
    ]);
    // the Slack channel's consumer starts once Redis answered, maybe after the gateway is ready
    for (let tries = 0; (await consumerNames(bus.jsm)).length < 2; tries++) {
      if (tries > 600) throw new Error("the workers' two consumers did not start");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    let runId = 150_000_000 + index * 1_000_000;
    const send = async (requests: number): Promise<void> => {
      const spec: LoadSpec = {
        url: `${ingress.url}/webhooks/github`,
        connections: 16,
        durationMs: 0,
        secret: BENCH_SECRET,
        payloadBytes: 20_000,
        firstRunId: runId,
        warmupMs: 0,
        requests,
      };
      runId += requests;
      const result = await runTsForJson<LoadResult>("bench/load.ts", [JSON.stringify(spec)]);
      if ((result.statuses["202"] ?? 0) !== requests)
        throw new Error(`expected ${requests} answers 202, got ${JSON.stringify(result.statuses)}`);
    };
    await send(warmup);
    await waitForConsumers(bus.jsm, "BUILD_EVENTS", 1_800_000);
    const varzBefore = await varz();
    execFileSync("callgrind_control", ["--instr=on", String(workers.child.pid)], { stdio: "ignore" });
    await send(events);
    await waitForConsumers(bus.jsm, "BUILD_EVENTS", 1_800_000);
    execFileSync("callgrind_control", ["--dump", String(workers.child.pid)], { stdio: "ignore" });
    const varzAfter = await varz();
    const total = await instructions(dir, name);
    return {
      workersK: total / events / 1000,
      natsInMsgs: (varzAfter.in_msgs - varzBefore.in_msgs) / events,
      natsOutMsgs: (varzAfter.out_msgs - varzBefore.out_msgs) / events,
    };
  } finally {
    await workers?.stop();
    await ingress.stop();
    await bus.close();
    await nats.dispose();
    await redis.dispose();
  }
}

async function consumerNames(jsm: JetStreamManager): Promise<string[]> {
  const names: string[] = [];
  for await (const info of jsm.consumers.list("BUILD_EVENTS")) names.push(info.name);
  return names;
}

/** The instruction total of the dump callgrind writes from inside the process, soon after it is asked. */
async function instructions(dir: string, name: string): Promise<number> {
  for (let attempt = 0; attempt < 300; attempt++) {
    for (const file of readdirSync(dir)) {
      if (!file.startsWith(`${name}.out.`)) continue;
      const match = /^(?:totals|summary):\s+(\d+)/m.exec(readFileSync(join(dir, file), "utf8"));
      if (match) return Number(match[1]);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${name}: callgrind wrote no dump`);
}

const dir = mkdtempSync(join(tmpdir(), "buildcast-consumers-"));
try {
  for (let index = 0; index < rounds; index++) {
    const result = await round(index, dir);
    console.log(
      `round ${index + 1}/${rounds}: workers ${result.workersK.toFixed(0)}k instructions per event; ` +
        `nats-server ${result.natsInMsgs.toFixed(1)} messages in and ` +
        `${result.natsOutMsgs.toFixed(1)} out per event (ingress's publish included)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
