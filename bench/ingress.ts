import type { JetStreamManager } from "@nats-io/jetstream";
import type { TestServer } from "../test/helpers/servers.ts";
import { freePort } from "../test/helpers/servers.ts";
import { BENCH_SECRET, startGatewayProcess } from "./gateway-process.ts";
import type { LoadResult, LoadSpec } from "./load.ts";
import { peakRssMb, runTsForJson, spawnTs, waitForPort, waitUntilQuiet } from "./processes.ts";

export interface IngressRound {
  readonly gateway: LoadResult;
  readonly bare: LoadResult;
  readonly ratio: number;
  /** how long after its round the gateway took to go quiet (consumers catching up) */
  readonly quietMs: number;
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
      const gatewayResult = await runTsForJson<LoadResult>("bench/load.ts", [
        spec(`${gateway.url}/webhooks/github`, options.firstRunId + round * 1_000_000),
      ]);
      stored += (await messages()) - before;
      acceptedTotal += accepted(gatewayResult);
      const quietMs = await waitUntilQuiet(gateway.child.pid);
      const bareResult = await runTsForJson<LoadResult>("bench/load.ts", [
        spec(`http://127.0.0.1:${barePort}/`, options.firstRunId + round * 1_000_000),
      ]);
      rounds.push({
        gateway: gatewayResult,
        bare: bareResult,
        ratio: gatewayResult.rps / bareResult.rps,
        quietMs,
      });
      console.error(
        `  ${options.role}${logLevel === "warn" ? "" : ` (log level ${logLevel})`} round ${round + 1}/${options.rounds}: gateway ${gatewayResult.rps.toFixed(0)} req/s ` +
          `(p99 ${gatewayResult.p99.toFixed(1)} ms), bare ${bareResult.rps.toFixed(0)} req/s`,
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
