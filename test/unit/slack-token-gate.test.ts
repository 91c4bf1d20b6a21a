import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTokenGate } from "../../src/notify/channels/slack-token-gate.ts";
import type { TokenCheck } from "../../src/notify/channels/slack-token.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { eventually } from "../helpers/poll.ts";

/** A gate whose auth.test answers are `answers`, in turn (the last one repeats). */
function gateAnswering(answers: TokenCheck[]) {
  const seen = {
    checks: 0,
    pauses: 0,
    runs: 0,
    refused: [] as boolean[],
    logs: [] as string[],
    /** whether the gate held the token refused when each check began */
    refusedAtCheck: [] as boolean[],
  };
  const gate = createTokenGate({
    check: () => {
      seen.refusedAtCheck.push(gate.isRefused());
      return Promise.resolve(answers[Math.min(seen.checks++, answers.length - 1)] as TokenCheck);
    },
    recheckMs: 20,
    log: createLogger({ level: "debug", secrets: [], write: (line) => seen.logs.push(line) }),
    setRefused: (refused) => seen.refused.push(refused),
    pause: () => void seen.pauses++,
    run: () => void seen.runs++,
  });
  return { gate, seen };
}

describe("the Slack token gate", () => {
  it("keeps a refused token refused while auth.test cannot answer, and runs once Slack takes it", async () => {
    const { gate, seen } = gateAnswering([
      { outcome: "refused", code: "invalid_auth" },
      { outcome: "unknown", reason: "HTTP 503" },
      { outcome: "unknown", reason: "rate limited for 30 s" },
      { outcome: "refused", code: "invalid_auth" },
      { outcome: "accepted", team: "t", user: "u" },
    ]);
    await gate.start();
    assert.equal(gate.isRefused(), true);
    assert.equal(seen.runs, 0, "the worker does not run with a refused token");
    await eventually(() => seen.runs === 1, "the worker to run once Slack takes the token");
    assert.deepEqual(
      seen.refusedAtCheck,
      [false, true, true, true, true],
      "a 503 or a 429 of auth.test says nothing about the token: it stayed refused until Slack took it",
    );
    assert.equal(seen.pauses, 2, "paused at the refusal and at its repetition, never run in between");
    assert.equal(gate.isRefused(), false);
    assert.equal(seen.refused.at(-1), false);
    const errors = seen.logs.filter((line) => line.includes("Slack refuses the bot token"));
    assert.equal(errors.length, 1, "the same refusal is said once");
    gate.stop();
  });

  it("runs with a token auth.test could not check, and a delivery's refusal pauses it", async () => {
    const { gate, seen } = gateAnswering([
      { outcome: "unknown", reason: "fetch failed (ECONNREFUSED)" },
      { outcome: "refused", code: "token_revoked" },
    ]);
    await gate.start();
    assert.equal(seen.runs, 1);
    assert.equal(gate.isRefused(), false);
    assert.deepEqual(seen.refused, []);
    gate.refused("token_revoked");
    gate.refused("token_revoked");
    assert.equal(gate.isRefused(), true);
    assert.equal(seen.pauses, 2);
    assert.match(gate.describe(), /token refused \(token_revoked\)/);
    const errors = seen.logs.filter((line) => line.includes("Slack refuses the bot token"));
    assert.equal(errors.length, 1, "two deliveries meeting the refusal log it once");
    gate.stop();
  });

  it("asks again about a token it could not check at start, and says once it is accepted", async () => {
    const { gate, seen } = gateAnswering([
      { outcome: "unknown", reason: "HTTP 503" },
      { outcome: "unknown", reason: "HTTP 502" },
      { outcome: "accepted", team: "t", user: "u" },
    ]);
    await gate.start();
    assert.match(gate.describe(), /token not checked \(HTTP 503\); notices go out/);
    await eventually(() => gate.describe() === "token accepted", "the token accepted");
    assert.equal(seen.checks, 3);
    assert.equal(seen.pauses, 0, "never paused");
    assert.ok(!seen.logs.some((line) => line.includes("again; the waiting notices go out")));
    gate.stop();
  });
});
