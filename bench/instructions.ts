import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestServer } from "../test/helpers/servers.ts";
import { freePort } from "../test/helpers/servers.ts";
import { BENCH_SECRET, startGatewayProcess } from "./gateway-process.ts";
import type { LoadResult, LoadSpec } from "./load.ts";
import { runTsForJson, spawnTs, waitForPort, type Child } from "./processes.ts";

export interface InstructionsRound {
  /** thousands of instructions the gateway process executed per webhook (every thread, user space) */
  readonly gatewayK: number;
  /** the same for the bare verify-only server */
  readonly bareK: number;
  /** of those, SHA-256 block processing (the HMAC): counted without the CPU's SHA extensions */
  readonly gatewaySha256K: number;
  readonly bareSha256K: number;
  /** of the gateway's total, its main thread's (JavaScript, HTTP, JSON); the rest is V8's compiler and GC helpers */
  readonly gatewayMainK: number;
  readonly bareMainK: number;
}

export interface InstructionsResult {
  readonly rounds: readonly InstructionsRound[];
  readonly warmup: number;
  readonly requests: number;
  readonly connections: number;
}

/** Whether valgrind (with callgrind_control) is installed; benchmark 5 is skipped without it. */
export function hasCallgrind(): boolean {
  try {
    execFileSync("valgrind", ["--version"], { stdio: "ignore" });
    execFileSync("callgrind_control", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Benchmark 5: instructions per webhook, counted by callgrind. Throughput on a shared VM
 * drifts by a third within minutes; an instruction count of the same build and input repeats
 * to within a few percent, so it shows what a change did to the cost of a webhook when the
 * req/s figures cannot. Each server runs under `valgrind --tool=callgrind` with
 * instrumentation off (JIT warm-up and startup are not counted), takes `warmup` webhooks,
 * then counts exactly `requests` more. User-space instructions of the server process only:
 * not the kernel's share (socket writes), not nats-server's.
 */
export async function benchInstructions(
  nats: TestServer,
  redis: TestServer,
  options: {
    rounds: number;
    warmup: number;
    requests: number;
    connections: number;
    payloadBytes: number;
    firstRunId: number;
  },
): Promise<InstructionsResult> {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-callgrind-"));
  const wrapper = (name: string): string[] => [
    "valgrind",
    "--tool=callgrind",
    "--instr-atstart=no",
    // V8 writes and then runs its own machine code
    "--smc-check=all-non-file",
    // a dump per thread: the main thread's count repeats to within 0.5%, while V8's compiler
    // threads add 40-100k per webhook that varies by up to 40k from run to run
    "--separate-threads=yes",
    `--callgrind-out-file=${join(dir, `${name}.out`)}`,
  ];
  let runId = options.firstRunId;
  const count = async (name: string, child: Child, url: string): Promise<Counted> => {
    const load = async (requests: number): Promise<LoadResult> => {
      const spec: LoadSpec = {
        url,
        connections: options.connections,
        durationMs: 0,
        secret: BENCH_SECRET,
        payloadBytes: options.payloadBytes,
        firstRunId: (runId += 1_000_000),
        warmupMs: 0,
        requests,
      };
      const result = await runTsForJson<LoadResult>("bench/load.ts", [JSON.stringify(spec)]);
      if ((result.statuses["202"] ?? 0) !== requests)
        throw new Error(`${name}: expected ${requests} answers 202, got ${JSON.stringify(result.statuses)}`);
      return result;
    };
    await load(options.warmup);
    execFileSync("callgrind_control", ["--instr=on", String(child.pid)], { stdio: "ignore" });
    await load(options.requests);
    execFileSync("callgrind_control", ["--dump", String(child.pid)], { stdio: "ignore" });
    // callgrind writes the dump (<name>.out.1-<thread>, a thread at a time) from inside the
    // process, soon after the request: it is complete once two reads a moment apart agree
    let previous: { total: number } | null = null;
    for (let attempt = 0; attempt < 100; attempt++) {
      const counted = readCounts(dir, name);
      const settled = counted !== null && previous !== null && counted.total === previous.total;
      previous = counted;
      if (counted !== null && settled)
        return {
          k: counted.total / options.requests / 1000,
          sha256K: counted.sha256 / options.requests / 1000,
          mainK: counted.main / options.requests / 1000,
        };
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${name}: callgrind wrote no dump`);
  };
  const gatewayRound = async (round: number): Promise<Counted> => {
    const gateway = await startGatewayProcess(
      nats,
      redis,
      "http://127.0.0.1:9/api/",
      "ingress",
      "warn",
      wrapper(`gateway-${round}`),
    );
    try {
      return await count(`gateway-${round}`, gateway.child, `${gateway.url}/webhooks/github`);
    } finally {
      await gateway.stop();
    }
  };
  const bareRound = async (round: number): Promise<Counted> => {
    const port = await freePort();
    const bare = spawnTs(
      "bench/bare-server.ts",
      [],
      { PORT: String(port), GITHUB_WEBHOOK_SECRET: BENCH_SECRET },
      wrapper(`bare-${round}`),
    );
    try {
      await waitForPort(port, 300_000);
      return await count(`bare-${round}`, bare, `http://127.0.0.1:${port}/`);
    } finally {
      await bare.stop();
    }
  };
  try {
    const rounds: InstructionsRound[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const gateway = await gatewayRound(round);
      const bare = await bareRound(round);
      rounds.push({
        gatewayK: gateway.k,
        bareK: bare.k,
        gatewaySha256K: gateway.sha256K,
        bareSha256K: bare.sha256K,
        gatewayMainK: gateway.mainK,
        bareMainK: bare.mainK,
      });
      console.error(
        `  instructions round ${round + 1}/${options.rounds}: gateway ${gateway.k.toFixed(0)}k, bare ${bare.k.toFixed(0)}k per webhook (SHA-256 ${gateway.sha256K.toFixed(0)}k, ${bare.sha256K.toFixed(0)}k; main thread ${gateway.mainK.toFixed(0)}k, ${bare.mainK.toFixed(0)}k)`,
      );
    }
    return { rounds, warmup: options.warmup, requests: options.requests, connections: options.connections };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Counted {
  /** thousands of instructions per webhook */
  readonly k: number;
  /** of which SHA-256 */
  readonly sha256K: number;
  /** of which the main thread's */
  readonly mainK: number;
}

/**
 * The instruction totals of a finished callgrind dump in `dir` (one file per thread that ran,
 * `<name>.out.1-<thread>`, the main thread's `-01`): all threads, the main thread's, and how
 * many of them were SHA-256 block functions (callgrind_annotate's per-function list); null
 * while the dump is not complete.
 */
function readCounts(dir: string, name: string): { total: number; main: number; sha256: number } | null {
  const files = readdirSync(dir)
    .filter((file) => file.startsWith(`${name}.out.1-`))
    .sort();
  if (!files.includes(`${name}.out.1-01`)) return null;
  let total = 0;
  let main = 0;
  let sha256 = 0;
  for (const file of files) {
    // callgrind writes `totals:` last: a file without it is still being written
    const match = /^totals:\s+(\d+)/m.exec(readFileSync(join(dir, file), "utf8"));
    if (!match) return null;
    const count = Number(match[1]);
    total += count;
    if (file.endsWith("-01")) main = count;
    const annotated = execFileSync("callgrind_annotate", ["--threshold=100", join(dir, file)], {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    for (const line of annotated.split("\n")) {
      const fn = /^\s*([\d,]+)\s.*sha256_block_data_order/.exec(line);
      if (fn?.[1]) sha256 += Number(fn[1].replaceAll(",", ""));
    }
  }
  return { total, main, sha256 };
}
