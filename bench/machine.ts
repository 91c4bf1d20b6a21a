import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly natsServer: string;
  readonly redis: string;
  readonly date: string;
  /** 1-minute load average when the run began (it lags: a build just before raises it) */
  readonly loadAverage: number;
  /** share of all cores busy over the 2 s sampled just before the benchmarks, in percent */
  readonly busyPercent: number;
}

const version = (command: string, args: string[], pattern: RegExp): string => {
  try {
    const out = execFileSync(command, args, { encoding: "utf8" });
    return pattern.exec(out)?.[1] ?? out.trim();
  } catch {
    return "not found";
  }
};

/** CPU time counters from /proc/stat's first line: [busy, total] in clock ticks. */
function cpuTicks(): [number, number] {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
  // idle and iowait are not busy
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return [total - idle, total];
}

/**
 * How busy the machine is right now, over `ms`: other work competing for the CPU skews
 * every figure, and the load average cannot tell (it lags by minutes).
 */
async function busyPercent(ms = 2000): Promise<number> {
  const [busyBefore, totalBefore] = cpuTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const [busyAfter, totalAfter] = cpuTicks();
  const total = totalAfter - totalBefore;
  return total > 0 ? Math.round(((busyAfter - busyBefore) / total) * 100) : 0;
}

export async function describeMachine(): Promise<Machine> {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    natsServer: version("nats-server", ["--version"], /v(\d+\.\d+\.\d+)/),
    redis: version("redis-server", ["--version"], /v=(\d+\.\d+\.\d+)/),
    date: new Date().toISOString(),
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    busyPercent: await busyPercent(),
  };
}
