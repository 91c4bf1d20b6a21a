import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import cliProgress, { Presets, SingleBar, type Options } from "cli-progress";
import type { Command } from "commander";
import { connectBus, redactUrl } from "../../bus/connect.ts";
import { OWN_CONSUMERS } from "../../bus/consumers.ts";
import { ConfigError, loadConfig } from "../../config/load.ts";
import { createLogger } from "../../observability/logger.ts";
import { durableConsumers, remaining, replayConsumer, type ReplayedConsumer } from "../replay-consumer.ts";
import { parseSince } from "../since.ts";

interface ReplayOptions {
  readonly since: string;
  readonly consumer?: string[];
  readonly config?: string;
  readonly nats?: string;
  readonly wait: boolean;
  readonly timeout: string;
}

const HELP = `
How it works: nats-server 2.9 cannot rewind a durable consumer, so each one is deleted and
created again under the same name and settings, starting at --since (deliver policy
by_start_time). Messages older than --since that the consumer had not acked yet are kept:
the start then moves back to the oldest of them (by_start_sequence).

Gateways may keep running. Their pull loop notices the consumer vanish (409 "Consumer
Deleted", then missed heartbeats), looks it up again and resumes pulling from the new one,
typically within 30 s; messages they were handling during the switch are redelivered.

No duplicate notices: event ids are deterministic, the status store merges by run state and
revision (CAS), and notifiers remember per run what they already sent, so a replayed event
that was handled before changes nothing. Replay is for consumers that missed or mishandled
events (a bug fix, a restored KV bucket), not for re-sending notices.

The progress bar counts messages delivered and acked by the running gateways until none
are pending. Without a running gateway use --no-wait.

Examples:
  buildcast replay --since 2h --consumer status-store
  buildcast replay --since 2024-05-01T10:00:00Z --no-wait`;

function parseTimeout(text: string): number {
  const match = /^(\d+)\s*(s|m)$/.exec(text.trim());
  if (!match) throw new Error(`--timeout "${text}" must look like 90s or 10m`);
  return Number(match[1]) * (match[2] === "m" ? 60_000 : 1000);
}

async function waitForConsumers(
  pendingOf: () => Promise<number>,
  initial: number,
  timeoutMs: number,
): Promise<boolean> {
  const bar = new SingleBar(
    {
      format: "replaying [{bar}] {value}/{total} messages | {eta_formatted} left",
      etaBuffer: 20,
      // until a few updates have moved, the estimate is NaN or Infinity ("NULLs", "INFs")
      formatTime: (seconds: unknown, options: Options, roundTo: number) =>
        typeof seconds === "number" && Number.isFinite(seconds)
          ? cliProgress.Format.TimeFormat(seconds, options, roundTo)
          : "?",
      // piped (kubectl exec without -t, CI logs): a line every 5 s instead of nothing
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    Presets.shades_classic,
  );
  let total = initial;
  bar.start(total, 0);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const left = await pendingOf();
      // events that arrive meanwhile join the work
      total = Math.max(total, bar.getProgress() * total + left, left);
      bar.setTotal(total);
      bar.update(total - left);
      if (left === 0) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    bar.stop();
  }
}

function describeStart(replayed: ReplayedConsumer, since: Date): string {
  const { start } = replayed;
  if (start.policy === "by_start_time") return `from ${start.time.toISOString()}`;
  return `from stream sequence ${start.sequence} (an unacked message older than ${since.toISOString()})`;
}

/** nats.js says only "stream not found": not which stream, on which server, nor what to check. */
async function assertStream(jsm: JetStreamManager, stream: string, url: string): Promise<void> {
  try {
    await jsm.streams.info(stream);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
    throw new Error(
      `no stream ${stream} at ${url} (a gateway creates it when it starts); check the server ` +
        "(--nats, NATS_URL or nats.url) and nats.stream.name in --config or $BUILDCAST_CONFIG",
      { cause: error },
    );
  }
}

async function replay(options: ReplayOptions): Promise<number> {
  const since = new Date(parseSince(options.since, Date.now()));
  const timeoutMs = parseTimeout(options.timeout);
  const loaded = loadConfig({
    ...(options.config ? { file: options.config } : {}),
    ...(options.nats ? { overrides: { nats: { url: options.nats } } } : {}),
  });
  const { config } = loaded;
  const stream = config.nats.stream.name;
  const logger = createLogger({ level: "warn", secrets: [], write: (line) => process.stderr.write(line) });
  const bus = await connectBus(config.nats.url, logger, "buildcast-cli").catch((error: unknown) => {
    // "connection refused" alone does not say which server, nor where the URL came from
    throw new Error(
      `cannot reach NATS at ${redactUrl(config.nats.url)}: ${(error as Error).message}; ` +
        "start it, or name the right server with --nats, NATS_URL or nats.url in --config",
      { cause: error },
    );
  });
  try {
    await assertStream(bus.jsm, stream, redactUrl(config.nats.url));
    const durables = await durableConsumers(bus.jsm, stream);
    // by default buildcast's own: a durable another team made on the stream (docs/events.md)
    // is not re-driven unless named
    const names = options.consumer?.length
      ? options.consumer
      : durables.filter((name) => OWN_CONSUMERS.includes(name));
    // all checked before any is deleted: a mistyped name must not leave the replay half done
    const unknown = names.filter((name) => !durables.includes(name));
    if (unknown.length > 0) {
      throw new Error(
        `no consumer "${unknown.join('", "')}" on stream ${stream}; durable consumers: ${durables.join(", ") || "(none)"}`,
      );
    }
    if (names.length === 0) {
      console.error(
        `none of buildcast's consumers (${OWN_CONSUMERS.join(", ")}) on stream ${stream} at ${redactUrl(config.nats.url)}`,
      );
      return 1;
    }
    const replayed: ReplayedConsumer[] = [];
    for (const name of names) {
      const result = await replayConsumer(bus.jsm, stream, name, since);
      replayed.push(result);
      console.log(
        `${name}: recreated ${describeStart(result, since)}; ${result.pending} messages to deliver`,
      );
    }
    if (!options.wait) return 0;
    const pendingOf = async (): Promise<number> => {
      const counts = await Promise.all(names.map((name) => remaining(bus.jsm, stream, name)));
      return counts.reduce((sum, n) => sum + n, 0);
    };
    const initial = replayed.reduce((sum, r) => sum + r.pending, 0);
    const done = await waitForConsumers(pendingOf, initial, timeoutMs);
    if (!done) {
      console.error(
        `replay: consumers still have ${await pendingOf()} messages after ${options.timeout}; is a gateway running?`,
      );
      return 1;
    }
    console.log(`replay done: ${names.join(", ")} caught up`);
    return 0;
  } finally {
    await bus.close();
  }
}

export function register(program: Command): void {
  program
    .command("replay")
    .description("Re-drive durable consumers from the stream from a point in time")
    .requiredOption(
      "--since <time>",
      "an ISO time with a zone (2024-05-01T10:00:00Z) or a duration back (90s, 30m, 2h, 7d)",
    )
    .option(
      "-c, --consumer <name...>",
      "consumer(s) to replay: status-store, notify-slack, notify-email (default: those of them on the stream)",
    )
    .option("--config <file>", "config file (default: $BUILDCAST_CONFIG), for the NATS URL and stream name")
    .option("--nats <url>", "NATS URL (default: from the config / NATS_URL)")
    .option("--no-wait", "recreate the consumers and exit without waiting for the gateways to catch up")
    .option("--timeout <duration>", "give up waiting after this long (90s, 10m)", "10m")
    .addHelpText("after", HELP)
    .action(async (options: ReplayOptions) => {
      try {
        process.exitCode = await replay(options);
      } catch (error) {
        console.error(error instanceof ConfigError ? error.message : `replay: ${(error as Error).message}`);
        process.exitCode = 1;
      }
    });
}
