import Table from "cli-table3";
import type { Command } from "commander";
import { ConfigError, loadConfig } from "../../config/load.ts";
import { secretValues } from "../../config/secret-values.ts";
import { configReport, type ConfigReport } from "../config-report.ts";
import { connectChecks, renderConnectResults } from "../connect-check.ts";

export function renderReport(report: ConfigReport): string {
  const lines = ["configuration is valid", ""];
  const width = Math.max(...report.summary.map(([key]) => key.length));
  for (const [key, value] of report.summary) lines.push(`  ${key.padEnd(width)}  ${value}`);
  lines.push("", "channels:");
  for (const { channel, enabled, variable } of report.channels) {
    lines.push(
      `  ${channel.padEnd(5)}  ${enabled ? `on  (${variable} is set)` : `off (${variable} is not set)`}`,
    );
  }
  lines.push("", "routes:");
  if (report.routes.length === 0) {
    lines.push("  (none: no notices will be sent)");
  } else {
    // colours only for a terminal: piped output (CI logs, grep) stays plain text
    const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
    const table = new Table({
      head: ["name", "match", "on", "slack channel", "email to"],
      wordWrap: true,
      ...style,
    });
    for (const row of report.routes) table.push([row.name, row.match, row.on, row.slack, row.email]);
    lines.push(table.toString());
  }
  if (report.warnings.length > 0) {
    lines.push("", "warnings:", ...report.warnings.map((warning) => `  - ${warning}`));
  }
  return lines.join("\n");
}

export function register(program: Command): void {
  const config = program.commands.find((command) => command.name() === "config") ?? program.command("config");
  config.description("Inspect the configuration");
  config
    .command("check")
    .argument("[file]", "config file merged over config/default.yaml (default: $BUILDCAST_CONFIG)")
    .description(
      "Validate the configuration as the gateway would load it (defaults, file, environment) and print the routes it would apply",
    )
    .option(
      "--connect",
      "also ask Slack (auth.test; conversations.info for each route's channel, which needs the channels:read / groups:read scopes) and the SMTP server (connect and log in) with the secrets from the environment",
    )
    .addHelpText(
      "after",
      "\nExit status: 0 when valid, 1 with every invalid setting named by its path;\n" +
        "with --connect, also 1 when Slack or the SMTP server refuses what the gateway would do.\n" +
        "Secrets are reported only as set / not set.",
    )
    .action(async (file: string | undefined, options: { connect?: boolean }) => {
      let loaded;
      try {
        loaded = loadConfig(file === undefined ? {} : { file });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        console.error(error.message);
        process.exitCode = 1;
        return;
      }
      console.log(renderReport(configReport(loaded)));
      if (options.connect !== true) return;
      const results = await connectChecks(loaded);
      console.log(`\n${renderConnectResults(results, secretValues(loaded))}`);
      if (results.some((result) => result.outcome === "fail")) process.exitCode = 1;
    });
}
