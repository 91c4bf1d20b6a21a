import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { waitForPort } from "../test/helpers/servers.ts";

const ROOT = join(import.meta.dirname, "..");

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** the last lines it wrote, for error messages */
  output(): string;
  stop(): Promise<void>;
}

/**
 * A command line the node process runs under, e.g. valgrind's: `[]` runs node directly.
 * The wrapper must run its program in the same process (as valgrind does), so that `pid`
 * is the measured process.
 */
export type Wrapper = readonly string[];

/** A TypeScript entry point in its own node process (tsx loader), output kept in a ring buffer. */
export function spawnTs(
  entry: string,
  args: readonly string[],
  env: Record<string, string>,
  wrapper: Wrapper = [],
): Child {
  return spawnNode(["--import", "tsx", join(ROOT, entry), ...args], env, wrapper);
}

/** The node flags of `npm run start:prod` (the Docker image's CMD has the same). */
export function productionNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  return (pkg.scripts["start:prod"] ?? "").split(/\s+/).filter((word) => word.startsWith("--"));
}

/**
 * The compiled gateway (`npm run build` output) with the production node flags, as the
 * Docker image runs it: measuring it under the tsx loader would count the loader's compile
 * work and memory as the gateway's.
 */
export function spawnBuilt(entry: string, env: Record<string, string>, wrapper: Wrapper = []): Child {
  // extra node flags for the gateway when profiling a run, e.g. BENCH_NODE_FLAGS=--cpu-prof
  const extra = (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
  return spawnNode([...productionNodeFlags(), ...extra, join(ROOT, entry)], env, wrapper);
}

function spawnNode(args: readonly string[], env: Record<string, string>, wrapper: Wrapper): Child {
  const [command = process.execPath, ...prefix] = [...wrapper, process.execPath];
  const child = spawn(command, [...prefix, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(chunk.toString("utf8"));
    if (lines.length > 50) lines.shift();
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  return {
    process: child,
    pid: child.pid ?? 0,
    output: () => lines.join(""),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
      }),
  };
}

/** Runs a TypeScript entry point to completion and parses the JSON line it printed. */
export async function runTsForJson<T>(entry: string, args: readonly string[]): Promise<T> {
  const child = spawnTs(entry, args, {});
  const chunks: Buffer[] = [];
  child.process.stdout?.on("data", (chunk: Buffer) => chunks.push(chunk));
  const code = await new Promise<number | null>((resolve) => child.process.once("exit", resolve));
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (code !== 0) throw new Error(`${entry} exited with ${code}: ${child.output()}`);
  return JSON.parse(text.split("\n").pop() ?? "") as T;
}

/** Polls GET `url` until it answers 2xx. */
export async function waitForHttp(url: string, child: Child, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.process.exitCode !== null) throw new Error(`process exited early:\n${child.output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready within ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export { waitForPort };

/** Peak resident set size (VmHWM) of a process, in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // fields after the command name, which may itself contain spaces and parentheses
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Waits until a process is quiet (under 5% of a core over half a second), at most
 * `timeoutMs`: with consumers in the gateway, the events of a round are still being
 * consumed after its last answer, and that work would otherwise land in the next
 * measurement (the baseline's) instead of the gateway's.
 */
export async function waitUntilQuiet(pid: number, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const before = cpuSeconds(pid);
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (cpuSeconds(pid) - before < 0.025 || Date.now() - started > timeoutMs) return Date.now() - started;
  }
}
