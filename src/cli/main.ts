import { Command } from "commander";
import { register as registerConfigCheck } from "./commands/config-check.ts";
import { registerDeadLetters } from "./commands/dead-letters.ts";
import { register as registerReplay } from "./commands/replay.ts";
import { register as registerSend } from "./commands/send.ts";

/** Operator commands; each lives in commands/<name>.ts and registers itself here. */
export function buildProgram(): Command {
  const program = new Command("buildcast")
    .description("Operator commands for the buildcast build-status gateway")
    .showHelpAfterError();
  registerConfigCheck(program);
  registerSend(program);
  registerReplay(program);
  registerDeadLetters(program);
  return program;
}

// `buildcast … | head`: a reader that stops early is no failure to report with a stack trace,
// nor a reason to leave a command half done (a replay between two consumers): the rest of
// the output is dropped and the command finishes
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // an operator gets the reason, not a stack trace
  console.error(`buildcast: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
// the command is over: nothing it left open may keep the process waiting. nats.js keeps the
// socket of a connect that timed out (a port that never answers as NATS) open for as long as
// the other side does, which for a silent load balancer is for ever. What is written goes out first.
await Promise.all(
  [process.stdout, process.stderr].map(
    (stream) =>
      new Promise<void>((resolve) => (stream.writable ? stream.write("", () => resolve()) : resolve())),
  ),
);
process.exit();
