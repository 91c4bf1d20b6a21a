import type { JetStreamManager } from "@nats-io/jetstream";
import type { TestServer } from "../test/helpers/servers.ts";
import { freePort } from "../test/helpers/servers.ts";
import { BENCH_SECRET, startGatewayProcess } from "./gateway-process.ts";
import type { LoadResult, LoadSpec } from "./load.ts";
import { cpuSeconds, peakRssMb, runTsForJson, spawnTs, waitForPort, waitUntilQuiet } from "./processes.ts";

export interface IngressRound {
  readonly gateway: LoadResult;
  readonly bare: LoadResult;
  readonly ratio: number;
  /** how long after its round the gateway took to go quiet (consumers catching up) */
  readonly quietMs: number;
  /** CPU time (user + system) per webhook answered, warm-up included, in µs */
  readonly cpuUs: {
    readonly gateway: number;
    /** nats-server during the gateway's round (storing and acking its events) */
    readonly nats: number;
    readonly bare: number;
  };
}

export interface IngressResult {
  readonly rounds: readonly IngressRound[];
  readonly durationMs: number;
  readonly connections: number;
  readonly payloadBytes: number;
  /** JetStream messages added during the gateway rounds, against its 202 answers */
  readonly stored: number;
  readonly accepted: number;
  readonly peakRssMb: number;
  /** the gateway's role: "ingress" (webhooks only, as a scaled deployment runs it) or "all" */
  readonly role: "all" | "ingress";
  /** warn: only problems are logged; info (the default level) adds a line per webhook */
  readonly logLevel: "info" | "warn";
}

const accepted = (result: LoadResult): number => (result.statuses["202"] ?? 0) + (result.warmup["202"] ?? 0);
const answered = (result: LoadResult): number =>
  [...Object.values(result.statuses), ...Object.values(result.warmup)].reduce((sum, n) => sum + n, 0);

/** Runs `measure` and returns its result with the CPU µs each process spent per `count(result)`. */
async function withCpu<T>(
  pids: readonly (number | undefined)[],
  measure: () => Promise<T>,
  count: (result: T) => number,
): Promise<{ result: T; us: number[] }> {
  const cpu = () => pids.map((pid) => (pid === undefined ? Number.NaN : cpuSeconds(pid)));
  const before = cpu();
  const result = await measure();
  const after = cpu();
  const n = count(result);
  return { result, us: after.map((seconds, i) => ((seconds - (before[i] ?? 0)) / n) * 1e6) };
}

/**
 * Benchmarks 1 and 4: the gateway (its own process) and a bare verify-only server, measured
 * alternately by the same out-of-process load generator, so each round's ratio compares
 * runs under the same machine conditions. The gateway's VmHWM is read at the end.
 */
export async function benchIngress(
  nats: TestServer,
  redis: TestServer,
  jsm: JetStreamManager,
  options: {
    rounds: number;
    durationMs: number;
    connections: number;
    payloadBytes: number;
    role: "all" | "ingress";
    logLevel?: "info" | "warn";
    /** run ids start here, a million per round: each call needs its own range, or its
     * webhooks repeat an earlier call's events and JetStream drops them as duplicates */
    firstRunId: number;
  },
): Promise<IngressResult> {
  const logLevel = options.logLevel ?? "warn";
  const gateway = await startGatewayProcess(nats, redis, "http://127.0.0.1:9/api/", options.role, logLevel);
  const barePort = await freePort();
  const bare = spawnTs("bench/bare-server.ts", [], {
    PORT: String(barePort),
    GITHUB_WEBHOOK_SECRET: BENCH_SECRET,
  });
  await waitForPort(barePort);
  const messages = async () => (await jsm.streams.info("BUILD_EVENTS")).state.messages;
  const spec = (url: string, firstRunId: number): string =>
    JSON.stringify({
      url,
      connections: options.connections,
      durationMs: options.durationMs,
      secret: BENCH_SECRET,
      payloadBytes: options.payloadBytes,
      firstRunId,
      warmupMs: 1000,
    } satisfies LoadSpec);
  try {
    const rounds: IngressRound[] = [];
    let stored = 0;
    let acceptedTotal = 0;
    for (let round = 0; round < options.rounds; round++) {
      const before = await messages();
      const {
        result: gatewayResult,
        us: [gatewayUs = Number.NaN, natsUs = Number.NaN],
      } = await withCpu(
        [gateway.child.pid, nats.pid()],
        () =>
          runTsForJson<LoadResult>("bench/load.ts", [
            spec(`${gateway.url}/webhooks/github`, options.firstRunId + round * 1_000_000),
          ]),
        answered,
      );
      stored += (await messages()) - before;
      acceptedTotal += accepted(gatewayResult);
      const quietMs = await waitUntilQuiet(gateway.child.pid);
      const {
        result: bareResult,
        us: [bareUs = Number.NaN],
      } = await withCpu(
        [bare.pid],
        () =>
          runTsForJson<LoadResult>("bench/load.ts", [
            spec(`http://127.0.0.1:${barePort}/`, options.firstRunId + round * 1_000_000),
          ]),
        answered,
      );
      rounds.push({
        gateway: gatewayResult,
        bare: bareResult,
        ratio: gatewayResult.rps / bareResult.rps,
        quietMs,
        cpuUs: { gateway: gatewayUs, nats: natsUs, bare: bareUs },
      });
      console.error(
        `  ${options.role}${logLevel === "warn" ? "" : ` (log level ${logLevel})`} round ${round + 1}/${options.rounds}: gateway ${gatewayResult.rps.toFixed(0)} req/s ` +
          `(p99 ${gatewayResult.p99.toFixed(1)} ms, CPU ${gatewayUs.toFixed(0)} µs + nats-server ${natsUs.toFixed(0)} µs per webhook), ` +
          `bare ${bareResult.rps.toFixed(0)} req/s (CPU ${bareUs.toFixed(0)} µs)`,
      );
    }
    return {
      rounds,
      durationMs: options.durationMs,
      connections: options.connections,
      payloadBytes: rounds[0]?.gateway.bytes ?? 0,
      stored,
      accepted: acceptedTotal,
      peakRssMb: peakRssMb(gateway.child.pid),
      role: options.role,
      logLevel,
    };
  } finally {
    await bare.stop();
    await gateway.stop();
  }
}
