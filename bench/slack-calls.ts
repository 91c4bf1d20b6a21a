import type { SlackCall } from "../test/helpers/slack-server.ts";

/** The run id a Slack call is about, read from the run link every message carries. */
export function runIdOf(call: SlackCall): number | null {
  const match = /actions\/runs\/(\d+)/.exec(JSON.stringify(call.args));
  return match ? Number(match[1]) : null;
}
