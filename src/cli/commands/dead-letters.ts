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
 * A retried delivery goes where it went before, whatever the routes say now: to a Slack channel
 * a corrected route no longer names it fails the same way again, to one a removed route named
 * it still posts. Said once per letter, so the operator does not take "retried" for "fixed".
 */
export function unroutedWarnings(rows: readonly DeadLetter[], loaded: LoadedConfig): string[] {
  const channels = new Set(
    loaded.config.routes.flatMap((route) => (route.slack ? [route.slack.channel] : [])),
  );
  return rows
    .filter((row) => row.channel === "slack" && !channels.has(row.target))
    .map(
      (row) =>
        `${row.id} goes to Slack channel ${row.target} again, which no route in ${loaded.files.join(", ")} ` +
        "sends to any more (if the gateway reads another file, set BUILDCAST_CONFIG to it)",
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
    .description("send failed deliveries again")
    .argument("[id]", "a dead letter id from `dead-letters list` (channel:job)")
    .option("--all", "retry every dead letter")
    .action(async (id: string | undefined, options: { all?: boolean }) => {
      // a usage error: commander prints it with this command's help, not the program's
      if (!options.all && id === undefined) retry.error("error: give a dead letter id or --all");
      const { retried, warnings } = await withDeadLetters(io, async (letters, loaded) => {
        const rows = await letters.list();
        const ids = options.all
          ? await letters.retryAll()
          : (await letters.retry(id ?? ""))
            ? [id ?? ""]
            : [];
        const retriedIds = new Set(ids);
        const warnings = unroutedWarnings(
          rows.filter((row) => retriedIds.has(row.id)),
          loaded,
        );
        return { retried: ids, warnings };
      });
      // not a usage error: say so and exit 1, without a page of help
      if (!options.all && retried.length === 0) throw new Error(`no dead letter with id ${id ?? ""}`);
      const table = new Table({ head: ["retried"], ...plainUnlessTty() });
      for (const retriedId of retried) table.push([retriedId]);
      out.log(retried.length === 0 ? "no dead letters" : table.toString());
      for (const warning of warnings) (io.err ?? { log: console.error }).log(`warning: ${warning}`);
    });
}
