import Table from "cli-table3";
import type { Command } from "commander";
import { loadConfig } from "../../config/load.ts";
import { DeadLetters, type DeadLetter } from "../../notify/dead-letters.ts";
import { redactUrl } from "../../bus/connect.ts";
import { producerConnection } from "../../notify/queue.ts";

export interface CommandIo {
  readonly out: { log(line: string): void };
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

async function withDeadLetters<T>(io: CommandIo, run: (letters: DeadLetters) => Promise<T>): Promise<T> {
  const { config } = loadConfig({ env: io.env });
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
    return await run(letters);
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
      const retried = await withDeadLetters(io, async (letters) =>
        options.all ? letters.retryAll() : (await letters.retry(id ?? "")) ? [id ?? ""] : [],
      );
      // not a usage error: say so and exit 1, without a page of help
      if (!options.all && retried.length === 0) throw new Error(`no dead letter with id ${id ?? ""}`);
      const table = new Table({ head: ["retried"], ...plainUnlessTty() });
      for (const retriedId of retried) table.push([retriedId]);
      out.log(retried.length === 0 ? "no dead letters" : table.toString());
    });
}
