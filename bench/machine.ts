import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly natsServer: string;
  readonly redis: string;
  readonly date: string;
  /** 1-minute load average when the run began: other work on the machine skews every figure */
  readonly loadAverage: number;
}

const version = (command: string, args: string[], pattern: RegExp): string => {
  try {
    const out = execFileSync(command, args, { encoding: "utf8" });
    return pattern.exec(out)?.[1] ?? out.trim();
  } catch {
    return "not found";
  }
};

export function describeMachine(): Machine {
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
  };
}
