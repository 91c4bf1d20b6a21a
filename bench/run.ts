import { execFileSync } from "node:child_process";
// `npm run bench`: benchmarks 2 and 3 (Slack) on one gateway process, then 1 and 4 (ingress,
// memory) on a fresh one, then 5 (instructions per webhook, under valgrind when it is
// installed), all against private nats-server / redis-server instances.
// Writes bench/RESULTS.md and prints the same.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectBus } from "../src/bus/connect.ts";
import { createLogger } from "../src/observability/logger.ts";
import { startNats, startRedis } from "../test/helpers/servers.ts";
import { startSlackServer } from "../test/helpers/slack-server.ts";
import { benchBurst, type BurstRound } from "./burst.ts";
import { benchEndToEnd, type E2eRound } from "./e2e.ts";
import { startGatewayProcess } from "./gateway-process.ts";
import { benchIngress } from "./ingress.ts";
import { benchInstructions, hasCallgrind } from "./instructions.ts";
import { describeMachine } from "./machine.ts";
import { renderResults } from "./report.ts";

const quick = process.argv.includes("--quick");
const settings = {
  ingress: { rounds: quick ? 1 : 5, durationMs: quick ? 3000 : 8000, connections: 32, payloadBytes: 20_000 },
  e2e: { rounds: quick ? 1 : 3, durationMs: quick ? 4000 : 10_000, rate: 50, warmupMs: quick ? 1000 : 5000 },
  burst: { rounds: quick ? 1 : 3 },
  instructions: { rounds: quick ? 1 : 2, warmup: quick ? 500 : 5000, requests: quick ? 500 : 3000 },
};

// the gateway runs compiled, as in production
execFileSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });

const machine = await describeMachine();
const started = Date.now();
const nats = await startNats();
const redis = await startRedis();
const slack = await startSlackServer();
const bus = await connectBus(nats.url, createLogger({ level: "silent", secrets: [] }), "buildcast-bench");
try {
  console.error("benchmarks 2 and 3: end to end and burst");
  const gateway = await startGatewayProcess(nats, redis, slack.apiUrl);
  const e2e: E2eRound[] = [];
  const burst: BurstRound[] = [];
  try {
    // a fresh gateway's first seconds of notices carry its warm-up (JIT, bullmq and Slack
    // client set-up): 345-552 ms p99 in every first round against 26-125 ms after, in old and
    // new code alike, so a run of that length goes first and is not counted, as in benchmark 1
    const warmup = await benchEndToEnd(gateway.url, slack, bus.jsm, {
      rate: settings.e2e.rate,
      durationMs: settings.e2e.warmupMs,
      firstRunId: 190_000_000,
    });
    console.error(`  e2e warm-up (not counted): p50 ${warmup.p50} ms, p99 ${warmup.p99} ms`);
    for (let round = 0; round < settings.e2e.rounds; round++) {
      const result = await benchEndToEnd(gateway.url, slack, bus.jsm, {
        rate: settings.e2e.rate,
        durationMs: settings.e2e.durationMs,
        firstRunId: 200_000_000 + round * 1_000_000,
      });
      e2e.push(result);
      console.error(`  e2e ${round + 1}/${settings.e2e.rounds}: p50 ${result.p50} ms, p99 ${result.p99} ms`);
    }
    for (let round = 0; round < settings.burst.rounds; round++) {
      const result = await benchBurst(gateway.url, slack, bus.jsm, 300_000_000 + round);
      burst.push(result);
      console.error(
        `  burst ${round + 1}/${settings.burst.rounds}: ${result.calls} calls, last shows ${result.lastTally}, lag ${result.lagMs} ms, consumed after ${result.consumedMs} ms`,
      );
    }
  } finally {
    await gateway.stop();
  }
  console.error(
    "benchmarks 1 and 4: ingress throughput and memory (all-in-one, then role ingress at log levels warn and info)",
  );
  // all-in-one first: its consumers would otherwise start behind by every event the
  // role-ingress rounds stored (no consumers there) and spend the rounds catching up
  const ingressAll = await benchIngress(nats, redis, bus.jsm, {
    ...settings.ingress,
    rounds: Math.min(3, settings.ingress.rounds),
    role: "all",
    firstRunId: 150_000_000,
  });
  const ingress = await benchIngress(nats, redis, bus.jsm, {
    ...settings.ingress,
    role: "ingress",
    firstRunId: 100_000_000,
  });
  // the default log level writes a line per webhook: measured apart, so the main figure
  // stays comparable with earlier runs and the cost of that line is visible
  const ingressInfo = await benchIngress(nats, redis, bus.jsm, {
    ...settings.ingress,
    rounds: Math.min(3, settings.ingress.rounds),
    role: "ingress",
    logLevel: "info",
    firstRunId: 170_000_000,
  });
  console.error("benchmark 5: instructions per webhook (callgrind)");
  const instructions = hasCallgrind()
    ? await benchInstructions(nats, redis, {
        ...settings.instructions,
        connections: settings.ingress.connections,
        payloadBytes: settings.ingress.payloadBytes,
        firstRunId: 180_000_000,
      })
    : null;
  if (!instructions) console.error("  skipped: valgrind (callgrind) is not installed");
  const markdown = renderResults({
    machine,
    settings,
    quick,
    ingress,
    ingressAll,
    ingressInfo,
    instructions,
    e2e,
    burst,
    totalSeconds: Math.round((Date.now() - started) / 1000),
  });
  if (!quick) writeFileSync(join(import.meta.dirname, "RESULTS.md"), markdown);
  console.log(markdown);
} finally {
  await bus.close();
  await slack.close();
  await redis.dispose();
  await nats.dispose();
}
