// Closed-loop load generator, run as its own process so it does not share an event loop with
// the server it measures: N keep-alive connections, each sending the next request as soon as
// the previous answer arrived, for a fixed time. Prints one JSON line with the results.
import { Agent, request } from "node:http";
import { signBody, workflowRunTemplate } from "./payloads.ts";
import { percentile } from "./stats.ts";

export interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly durationMs: number;
  readonly secret: string;
  readonly payloadBytes: number;
  /** first run id; each request uses the next one */
  readonly firstRunId: number;
  readonly warmupMs: number;
  /** how many branches the runs take turns on (default 100); 0 gives each run its own */
  readonly branches?: number;
  /** when set, the measured part sends exactly this many requests instead of running for durationMs */
  readonly requests?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly rps: number;
  readonly statuses: Record<string, number>;
  /** answers during the unmeasured warm-up */
  readonly warmup: Record<string, number>;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly bytes: number;
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  // 100 branches: the status store keeps per-branch run lists, so a branch per run (a
  // hundred thousand branches in a minute) would measure a repository no one has
  const branches = spec.branches ?? 100;
  const template = workflowRunTemplate(spec.payloadBytes, branches > 0 ? { branches } : {});
  const target = new URL(spec.url);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  let nextId = spec.firstRunId;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};

  const send = (): Promise<number> => {
    const body = template.body(nextId++);
    const started = performance.now();
    return new Promise((resolve) => {
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            "x-github-event": "workflow_run",
            "x-github-delivery": `bench-${nextId}`,
            "x-hub-signature-256": signBody(spec.secret, body),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            const key = String(res.statusCode);
            statuses[key] = (statuses[key] ?? 0) + 1;
            resolve(performance.now() - started);
          });
        },
      );
      req.on("error", () => {
        statuses.error = (statuses.error ?? 0) + 1;
        resolve(performance.now() - started);
      });
      req.end(body);
    });
  };

  let left = spec.requests ?? Number.POSITIVE_INFINITY;
  const loop = async (until: number, record: boolean): Promise<void> => {
    while (performance.now() < until && (!record || left-- > 0)) {
      const latency = await send();
      if (record) latencies.push(latency);
    }
  };
  const workers = (until: number, record: boolean) =>
    Promise.all(Array.from({ length: spec.connections }, () => loop(until, record)));

  await workers(performance.now() + spec.warmupMs, false);
  const warmup = { ...statuses };
  for (const key of Object.keys(statuses)) delete statuses[key];
  const started = performance.now();
  await workers(spec.requests === undefined ? started + spec.durationMs : Number.POSITIVE_INFINITY, true);
  const elapsed = performance.now() - started;
  agent.destroy();
  return {
    requests: latencies.length,
    rps: latencies.length / (elapsed / 1000),
    statuses,
    warmup,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
    bytes: template.bytes,
  };
}

if (process.argv[1] === import.meta.filename) {
  const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec;
  process.stdout.write(`${JSON.stringify(await run(spec))}\n`);
}
