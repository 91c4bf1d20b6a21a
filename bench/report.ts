import type { BurstRound } from "./burst.ts";
import type { E2eRound } from "./e2e.ts";
import type { IngressResult } from "./ingress.ts";
import type { InstructionsResult } from "./instructions.ts";
import type { Machine } from "./machine.ts";
import { median, round } from "./stats.ts";

export interface Results {
  readonly machine: Machine;
  readonly settings: {
    readonly ingress: { rounds: number; durationMs: number; connections: number; payloadBytes: number };
    readonly e2e: { rounds: number; durationMs: number; rate: number; warmupMs: number };
    readonly burst: { rounds: number };
  };
  /** benchmark 5; null when valgrind is not installed */
  readonly instructions: InstructionsResult | null;
  readonly quick: boolean;
  readonly ingress: IngressResult;
  /** the same with every consumer in the gateway process */
  readonly ingressAll: IngressResult;
  /** role ingress at log level info (a line per webhook) */
  readonly ingressInfo: IngressResult;
  readonly e2e: readonly E2eRound[];
  readonly burst: readonly BurstRound[];
  readonly totalSeconds: number;
}

const verdict = (ok: boolean): string => (ok ? "**met**" : "**not met**");
const list = (values: readonly number[], digits = 1): string =>
  values.map((v) => round(v, digits)).join(" · ");

export function renderResults(results: Results): string {
  const { machine, ingress, ingressAll, ingressInfo, instructions, e2e, burst, settings } = results;
  const gwK = instructions?.rounds.map((r) => r.gatewayK) ?? [];
  const bareK = instructions?.rounds.map((r) => r.bareK) ?? [];
  const gwShaK = instructions?.rounds.map((r) => r.gatewaySha256K) ?? [];
  const bareShaK = instructions?.rounds.map((r) => r.bareSha256K) ?? [];
  const gwMainK = instructions?.rounds.map((r) => r.gatewayMainK) ?? [];
  const bareMainK = instructions?.rounds.map((r) => r.bareMainK) ?? [];
  const gwNoShaK = gwK.map((value, i) => value - (gwShaK[i] ?? 0));
  const bareNoShaK = bareK.map((value, i) => value - (bareShaK[i] ?? 0));
  const infoRatios = ingressInfo.rounds.map((r) => r.ratio);
  const infoP99 = ingressInfo.rounds.map((r) => r.gateway.p99);
  const allRatios = ingressAll.rounds.map((r) => r.ratio);
  const allP99 = ingressAll.rounds.map((r) => r.gateway.p99);
  const gwRps = ingress.rounds.map((r) => r.gateway.rps);
  const bareRps = ingress.rounds.map((r) => r.bare.rps);
  const ratios = ingress.rounds.map((r) => r.ratio);
  const gwP50 = ingress.rounds.map((r) => r.gateway.p50);
  const gwP99 = ingress.rounds.map((r) => r.gateway.p99);
  const bareP50 = ingress.rounds.map((r) => r.bare.p50);
  const bareP99 = ingress.rounds.map((r) => r.bare.p99);
  const gwCpu = ingress.rounds.map((r) => r.cpuUs.gateway);
  const natsCpu = ingress.rounds.map((r) => r.cpuUs.nats);
  const bareCpu = ingress.rounds.map((r) => r.cpuUs.bare);
  const cpuRatios = ingress.rounds.map((r) => r.cpuUs.bare / r.cpuUs.gateway);
  // CPU seconds per second: how much of its one thread each server kept busy
  const gwBusy = ingress.rounds.map((r) => (r.cpuUs.gateway * r.gateway.rps) / 1e6);
  const bareBusy = ingress.rounds.map((r) => (r.cpuUs.bare * r.bare.rps) / 1e6);
  const errors = ingress.rounds.flatMap((r) =>
    Object.entries(r.gateway.statuses).filter(([status]) => status !== "202"),
  );
  const e2eP50 = e2e.map((r) => r.p50);
  const e2eP99 = e2e.map((r) => r.p99);
  const burstCalls = burst.map((r) => r.calls);
  const burstLag = burst.map((r) => r.lagMs);

  const lines = [
    "# buildcast benchmark results",
    "",
    `Written by \`npm run bench\` (bench/run.ts) on ${machine.date}; total run time ${results.totalSeconds} s.`,
    "",
    "| machine | |",
    "|---|---|",
    `| CPU | ${machine.cpu} |`,
    `| cores | ${machine.cores} |`,
    `| memory | ${machine.memoryGb} GB |`,
    `| node | ${machine.node} |`,
    `| nats-server | ${machine.natsServer} |`,
    `| redis-server | ${machine.redis} |`,
    `| CPU busy just before the benchmarks (2 s sample, all cores) | ${machine.busyPercent}% |`,
    `| load average at start (1 min) | ${machine.loadAverage} |`,
    "",
    "Every process — gateway, nats-server, redis-server, load generator, baseline server — runs on",
    "this one machine and shares its cores; each figure is the median of the runs listed next to it.",
    "",
    "## Summary",
    "",
    "| benchmark | figure (median) | target | |",
    "|---|---|---|---|",
    `| 1. ingress ratio gateway / bare verify (role ingress) | ${round(median(ratios), 2)} | ≥ 0.5 | ${verdict(median(ratios) >= 0.5)} |`,
    `| 1. ingress p99 latency (role ingress) | ${round(median(gwP99))} ms | ≤ 25 ms | ${verdict(median(gwP99) <= 25)} |`,
    `| 1. CPU per webhook: gateway (+ nats-server) / bare verify | ${round(median(gwCpu), 0)} µs (+ ${round(median(natsCpu), 0)} µs) / ${round(median(bareCpu), 0)} µs | (explains the ratio) | |`,
    `| 1. the same, every consumer in the same process: ratio, p99 | ${round(median(allRatios), 2)}, ${round(median(allP99))} ms | (for comparison) | |`,
    `| 1. the same at log level info (a line per webhook): ratio, p99 | ${round(median(infoRatios), 2)}, ${round(median(infoP99))} ms | (for comparison) | |`,
    `| 2. end-to-end p99, request → Slack API | ${round(median(e2eP99))} ms | ≤ 150 ms | ${verdict(median(e2eP99) <= 150)} |`,
    `| 3. burst: Slack calls for 1,000 job events${burstSlowSends(burst).length > 0 ? ` (sent over ${round(median(burst.map((r) => r.sendMs)) / 1000, 1)} s, not 2: see 3.)` : ""} | ${median(burstCalls)} | ≤ 10 | ${verdict(median(burstCalls) <= 10)} |`,
    `| 3. burst: final state after last event | ${round(median(burstLag), 0)} ms, shown in ${burst.filter((r) => r.finalShown).length}/${burst.length} runs | ≤ 2,000 ms | ${verdict(median(burstLag) <= 2000 && burst.every((r) => r.finalShown))} |`,
    `| 4. peak RSS of the gateway (VmHWM), role ingress | ${round(ingress.peakRssMb)} MB | ≤ 200 MB | ${verdict(ingress.peakRssMb <= 200)} |`,
    `| 4. the same, every consumer in the same process | ${round(ingressAll.peakRssMb)} MB | (for comparison) | |`,
    instructions
      ? `| 5. instructions per webhook, gateway / bare verify | ${round(median(gwK), 0)}k / ${round(median(bareK), 0)}k (of which the HMAC's SHA-256: ${round(median(gwShaK), 0)}k / ${round(median(bareShaK), 0)}k) | (steady where req/s drift) | |`
      : "| 5. instructions per webhook | not measured: valgrind is not installed | | |",
    "",
    "## 1. Ingress throughput",
    "",
    `Signed \`workflow_run\` payloads of ${ingress.payloadBytes} bytes (a fixture padded with a long head-commit`,
    `message, a distinct run id per request so none is a duplicate, runs spread over 100 branches), ${ingress.connections} keep-alive connections,`,
    `closed loop, ${ingress.durationMs / 1000} s per measurement after 1 s of warm-up, ${ingress.rounds.length} rounds. Each round measures the`,
    "gateway, then — once the gateway process is quiet again — the baseline, with the same load generator",
    "(its own process): the ratio is per round.",
    "- gateway: the compiled gateway (`dist/main.js`) as its own process with `role: ingress` — webhooks",
    "  and API, no consumers, as a deployment that scales intake apart from delivery runs it — log level",
    "  warn; a 202 only after JetStream acked the event. Below the table: the same with `role: all`,",
    "  where the status store and notify consumers share the process (and the 2 cores) with ingress.",
    "- baseline: `@octokit/webhooks` `verify()` on bare `node:http` (bench/bare-server.ts), nothing stored.",
    "",
    "| | per round | median |",
    "|---|---|---|",
    `| gateway req/s | ${list(gwRps, 0)} | ${round(median(gwRps), 0)} |`,
    `| baseline req/s | ${list(bareRps, 0)} | ${round(median(bareRps), 0)} |`,
    `| ratio | ${list(ratios, 2)} | ${round(median(ratios), 2)} |`,
    `| gateway p50 / p99 ms | ${gwP50.map((v, i) => `${round(v)} / ${round(gwP99[i] ?? 0)}`).join(" · ")} | ${round(median(gwP50))} / ${round(median(gwP99))} |`,
    `| baseline p50 / p99 ms | ${bareP50.map((v, i) => `${round(v)} / ${round(bareP99[i] ?? 0)}`).join(" · ")} | ${round(median(bareP50))} / ${round(median(bareP99))} |`,
    `| gateway CPU µs per webhook | ${list(gwCpu, 0)} | ${round(median(gwCpu), 0)} |`,
    `| nats-server CPU µs per webhook (gateway rounds) | ${list(natsCpu, 0)} | ${round(median(natsCpu), 0)} |`,
    `| baseline CPU µs per webhook | ${list(bareCpu, 0)} | ${round(median(bareCpu), 0)} |`,
    `| CPU ratio: baseline µs / gateway µs | ${list(cpuRatios, 2)} | ${round(median(cpuRatios), 2)} |`,
    `| share of a core busy (CPU µs × req/s): gateway / baseline | ${gwBusy.map((v, i) => `${round(v, 2)} / ${round(bareBusy[i] ?? 0, 2)}`).join(" · ")} | ${round(median(gwBusy), 2)} / ${round(median(bareBusy), 2)} |`,
    "",
    "CPU per webhook is each process's user + system time over its round (warm-up included) divided",
    "by the webhooks it answered, read from /proc. Each server handles webhooks on one thread. A",
    "thread busy close to 1.0 of a core is what limits its req/s (about 1 s over its CPU per",
    "webhook); one well below it was held back by something else, here the load generator and",
    "nats-server sharing the 2 cores.",
    "",
    `With every consumer in the process (\`role: all\`, ${ingressAll.rounds.length} rounds): gateway ${list(
      ingressAll.rounds.map((r) => r.gateway.rps),
      0,
    )} req/s,`,
    `ratio ${list(allRatios, 2)}, p99 ${list(allP99, 1)} ms; peak RSS ${round(ingressAll.peakRssMb)} MB. Its consumers were still`,
    `storing each round's events after the round: the baseline was measured once the process had been quiet`,
    `for half a second, ${list(
      ingressAll.rounds.map((r) => r.quietMs / 1000),
      1,
    )} s after the gateway's round (at most 60 s).`,
    "",
    `At log level info (\`role: ingress\`, ${ingressInfo.rounds.length} rounds; a JSON line per webhook to stdout, read by the`,
    `benchmark process as a container runtime would): gateway ${list(
      ingressInfo.rounds.map((r) => r.gateway.rps),
      0,
    )} req/s, ratio ${list(infoRatios, 2)}, p99 ${list(infoP99, 1)} ms; peak RSS ${round(ingressInfo.peakRssMb)} MB.`,
    "",
    `Durability check: the gateway answered 202 to ${ingress.accepted} webhooks (warm-up included) and the`,
    `stream grew by ${ingress.stored} messages.${errors.length > 0 ? ` Non-202 answers: ${JSON.stringify(errors)}.` : " No other answers."}`,
    "",
    "## 2. End to end",
    "",
    `${settings.e2e.rate} webhooks/s, open loop, for ${settings.e2e.durationMs / 1000} s per run, each a completed run of a routed repository`,
    "(one `chat.postMessage` each); latency from sending the request to the local Slack-API server",
    "(test/helpers/slack-server.ts) receiving the call, both in the benchmark process. The runs",
    `follow ${settings.e2e.warmupMs / 1000} s of the same load that is not counted: the fresh gateway's warm-up.`,
    "",
    "| run | sent | notified | p50 ms | p99 ms | max ms |",
    "|---|---|---|---|---|---|",
    ...e2e.map((r, i) => `| ${i + 1} | ${r.sent} | ${r.notified} | ${r.p50} | ${r.p99} | ${r.max} |`),
    `| median | | | ${median(e2eP50)} | ${median(e2eP99)} | |`,
    "",
    "## 3. Burst",
    "",
    "A run is started (one `chat.postMessage`); then 1,000 `workflow_job` events of that run (500 jobs,",
    "in_progress then completed, every 50th failing, the last job included) are sent spread evenly over",
    "1.8 s, at most 32 in flight, each waiting for its answer: they arrive within 2 s when the gateway",
    "keeps up. Counted: Slack calls about the run from the first job event on; whether the last call",
    "shows the final tally (`Failed jobs 10 of 500`); time from the last event's 202 to that call.",
    "",
    ...burstSlowSends(burst),
    "| run | events | sent in ms | consumers done after last event, ms | Slack calls | last call shows | last call after last event, ms |",
    "|---|---|---|---|---|---|---|",
    ...burst.map(
      (r, i) =>
        `| ${i + 1} | ${r.events} | ${r.sendMs} | ${r.consumedMs} | ${r.calls} | ${r.lastTally}${r.finalShown ? " (final)" : ""} | ${r.lagMs} |`,
    ),
    "",
    "## 4. Memory",
    "",
    `Peak resident set size (VmHWM from /proc/<pid>/status) of the gateway process used for benchmark 1,`,
    `read after its last round: ${round(ingress.peakRssMb)} MB.`,
    "",
    "## 5. Instructions per webhook",
    "",
    ...(instructions
      ? [
          "Requests per second on a shared VM drift by a third within minutes; instructions do not. The",
          "gateway (role ingress, log level warn, production flags) and the bare verify-only server each run",
          "under `valgrind --tool=callgrind` with counting off, take " +
            `${instructions.warmup} webhooks to warm up (JIT, caches), then count exactly ${instructions.requests} more,`,
          `sent by the same load generator over ${instructions.connections} connections. Counted: user-space instructions of`,
          "the server process, every thread (GC included); not the kernel's share, not nats-server's. A",
          "change that makes a webhook cheaper shows here even when the req/s figures cannot tell.",
          "",
          "These are not a second throughput ratio. Valgrind does not run the CPU's SHA extensions, so",
          "OpenSSL computes the HMAC's SHA-256 on its AVX2 path under it: the SHA-256 rows below are",
          "several times what the HMAC costs natively (about 15 µs of CPU per 20 KB body on this machine),",
          "and that work is most of what the bare server does. The comparison to follow is the gateway's",
          "instructions without SHA-256 from run to run. Its main thread alone (the JavaScript, HTTP and",
          "JSON work) repeats to within 0.5%; V8's compiler threads add a share that varies by tens of",
          "thousands of instructions per webhook from run to run.",
          "",
          "| | per round | median |",
          "|---|---|---|",
          `| gateway, thousands of instructions per webhook | ${list(gwK, 0)} | ${round(median(gwK), 0)} |`,
          `| bare verify, thousands per webhook | ${list(bareK, 0)} | ${round(median(bareK), 0)} |`,
          `| gateway, of which SHA-256 (HMAC) | ${list(gwShaK, 0)} | ${round(median(gwShaK), 0)} |`,
          `| bare verify, of which SHA-256 (HMAC) | ${list(bareShaK, 0)} | ${round(median(bareShaK), 0)} |`,
          `| gateway without SHA-256 | ${list(gwNoShaK, 0)} | ${round(median(gwNoShaK), 0)} |`,
          `| bare verify without SHA-256 | ${list(bareNoShaK, 0)} | ${round(median(bareNoShaK), 0)} |`,
          `| gateway, main thread alone | ${list(gwMainK, 0)} | ${round(median(gwMainK), 0)} |`,
          `| bare verify, main thread alone | ${list(bareMainK, 0)} | ${round(median(bareMainK), 0)} |`,
          "",
        ]
      : ["Not measured: valgrind is not installed (`apt-get install valgrind`).", ""]),
  ];
  if (machine.busyPercent > 25) {
    lines.splice(
      2,
      0,
      `**Caution: the machine was busy (${machine.busyPercent}% of ${machine.cores} cores in use by other work) when this run began; other work competed for the CPU and every figure here is pessimistic and noisy.**`,
      "",
    );
  }
  if (results.quick) lines.splice(2, 0, "**Quick run (--quick): single short rounds, not for quoting.**", "");
  return lines.join("\n");
}

/** says so when the gateway could not take the burst's events within the 2 s the target names */
function burstSlowSends(burst: readonly BurstRound[]): string[] {
  const slow = burst.filter((r) => r.sendMs > 2000);
  if (slow.length === 0) return [];
  return [
    `In ${slow.length} of ${burst.length} runs the gateway took longer than 2 s to answer the 1,000 events`,
    `(${slow.map((r) => `${r.sendMs} ms`).join(", ")}): on this machine the burst arrived more slowly than`,
    "the target's 2 s, held back by the gateway's answers, not by the sender.",
    "",
  ];
}
