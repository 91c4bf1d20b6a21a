import Table from "cli-table3";
import type { Command } from "commander";
import { loadConfig, type LoadedConfig } from "../../config/load.ts";
import { DeadLetters, type DeadLetter } from "../../notify/dead-letters.ts";
import { redactUrl } from "../../bus/connect.ts";
import { producerConnection } from "../../notify/queue.ts";

export interface CommandIo {
  readonly out: { log(line: string): void };
  /** warnings, apart from the output a script reads (default: stderr) */
  readonly err?: { log(line: string): void };
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Colours only on a terminal: piped into grep or a file, escape codes are noise. */
const plainUnlessTty = (): { style?: { head: string[]; border: string[] } } =>
  process.stdout.isTTY ? {} : { style: { head: [], border: [] } };

/** The table `dead-letters list` prints; exported so tests can read what an operator sees. */
export function deadLetterTable(rows: readonly DeadLetter[]): string {
  const table = new Table({
    head: ["id", "channel", "target", "subject", "attempts", "failed at", "reason"],
    ...plainUnlessTty(),
  });
  for (const row of rows) {
    table.push([
      row.id,
      row.channel,
      row.target,
      row.subject,
      String(row.attempts),
      row.failedAt?.toISOString() ?? "",
      row.reason.length > 80 ? `${row.reason.slice(0, 79)}…` : row.reason,
    ]);
  }
  return table.toString();
}

/**
 * Why `retry` will not send a dead letter without --old-target: its route is not in the config
 * the CLI read, or no longer has the letter's channel kind, so nobody asked for it to go
 * anywhere now. Null: it may go (a Slack letter to its route's current channel). A Slack
 * letter queued before jobs named their route is left to the gateway, which finds the route
 * in the run's record.
 */
export function retryRefusal(row: DeadLetter, loaded: LoadedConfig): string | null {
  if (row.route === null) return null;
  const route = loaded.config.routes.find((candidate) => candidate.name === row.route);
  if (route?.[row.channel] !== undefined) return null;
  const what = row.channel === "slack" ? "Slack" : "e-mail";
  return (
    `${row.id}: its route ${row.route} is not in ${loaded.files.join(", ")}` +
    `${route ? ` with ${what}` : ""}, so it goes nowhere now (if the gateway reads another file, ` +
    `set BUILDCAST_CONFIG to it; --old-target sends it to ${row.target} as before)`
  );
}

async function withDeadLetters<T>(
  io: CommandIo,
  run: (letters: DeadLetters, loaded: LoadedConfig) => Promise<T>,
): Promise<T> {
  const loaded = loadConfig({ env: io.env });
  const { config } = loaded;
  // an operator's command should fail fast and say why, not wait forever for Redis
  // the last error says why (refused, WRONGPASS, no such host); Redis errors never hold the password
  let lastError = "";
  const connection = producerConnection(
    config.redis.url,
    (error) => (lastError = error.message.replace(/\.$/, "")),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `cannot use Redis at ${redactUrl(config.redis.url)}${lastError ? `: ${lastError}` : ""}; ` +
                "check REDIS_URL (or redis.url in $BUILDCAST_CONFIG)",
            ),
          ),
        5000,
      );
      connection.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (error) {
    connection.disconnect();
    throw error;
  }
  const letters = new DeadLetters(connection, config.redis.prefix);
  try {
    return await run(letters, loaded);
  } finally {
    await letters.close();
    await connection.quit().catch(() => undefined);
  }
}

export function registerDeadLetters(
  program: Command,
  io: CommandIo = { out: console, env: process.env },
): void {
  const { out } = io;
  const command = program.command("dead-letters").description("failed Slack and e-mail deliveries");

  command
    .command("list")
    .description("print the failed deliveries as a table")
    .action(async () => {
      const rows = await withDeadLetters(io, (letters) => letters.list());
      out.log(rows.length === 0 ? "no dead letters" : deadLetterTable(rows));
    });

  const retry = command
    .command("retry")
    .description("send failed deliveries again, each where its route sends now")
    .argument("[id]", "a dead letter id from `dead-letters list` (channel:job)")
    .option("--all", "retry every dead letter")
    .option(
      "--old-target",
      "send each where it went before, even when its route is gone or names another channel now",
    )
    .action(async (id: string | undefined, options: { all?: boolean; oldTarget?: boolean }) => {
      // a usage error: commander prints it with this command's help, not the program's
      if (!options.all && id === undefined) retry.error("error: give a dead letter id or --all");
      const target = options.oldTarget ? "previous" : "route";
      const { found, retried, refused } = await withDeadLetters(io, async (letters, loaded) => {
        const rows = (await letters.list()).filter((row) => options.all || row.id === id);
        const refusals = new Map<string, string>();
        for (const row of rows) {
          const refusal = options.oldTarget ? null : retryRefusal(row, loaded);
          if (refusal !== null) refusals.set(row.id, refusal);
        }
        const ids: string[] = [];
        for (const row of rows) {
          if (!refusals.has(row.id) && (await letters.retry(row.id, target))) ids.push(row.id);
        }
        return { found: rows.length, retried: ids, refused: [...refusals.values()] };
      });
      // not a usage error: say so and exit 1, without a page of help
      if (!options.all && found === 0) throw new Error(`no dead letter with id ${id ?? ""}`);
      const table = new Table({ head: ["retried"], ...plainUnlessTty() });
      for (const retriedId of retried) table.push([retriedId]);
      if (retried.length > 0 || refused.length === 0)
        out.log(retried.length === 0 ? "no dead letters" : table.toString());
      for (const refusal of refused) (io.err ?? { log: console.error }).log(`not retried: ${refusal}`);
      if (refused.length > 0) {
        throw new Error(
          `${refused.length} dead letter${refused.length === 1 ? "" : "s"} not retried: ${refused.length === 1 ? "its route is" : "their routes are"} gone (see above)`,
        );
      }
    });
}
