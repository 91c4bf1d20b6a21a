import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { startNats } from "../helpers/servers.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";
import { countStream, metricSum, storedCount, waitUntil } from "./burst.ts";

const PUBLISH_TIMEOUT = 2000;
const RATE = 20; // webhooks per second, sent on schedule whether or not the earlier ones were answered
const BEFORE = 1000;
const FROZEN = 8000;
const AFTER = 3000;

interface Answer {
  /** when it was sent, in ms from the freeze */
  readonly sent: number;
  /** when it was answered, in ms from the freeze */
  readonly answered: number;
  readonly ms: number;
  readonly status: number;
  readonly spooled: number;
}

for (const role of ["ingress", "all"] as const) {
  test(
    `role ${role}, nats-server frozen (SIGSTOP) with the connection up: once a publish went unanswered, webhooks go straight to the spool; all stored once after SIGCONT`,
    { timeout: 110_000 },
    async () => {
      const { nats, gateway, pid, dispose } = await frozenSetUp(role);
      let frozen = false;
      try {
        const answers: Answer[] = [];
        const ids = new Set<string>();
        const start = performance.now();
        const freezeAt = start + BEFORE;
        let readyDuringFreeze: Record<string, string> = {};
        const fault = (async () => {
          await sleep(BEFORE);
          process.kill(pid, "SIGSTOP");
          frozen = true;
          await sleep(FROZEN / 2);
          readyDuringFreeze = (await (await fetch(`${gateway.url}/readyz`)).json()) as Record<string, string>;
          await sleep(freezeAt + FROZEN - performance.now());
          process.kill(pid, "SIGCONT");
          frozen = false;
        })();
        const sends: Array<Promise<void>> = [];
        const count = ((BEFORE + FROZEN + AFTER) / 1000) * RATE;
        for (let i = 0; i < count; i++) {
          await sleep(start + (i * 1000) / RATE - performance.now());
          const sent = performance.now();
          const body = workflowRun({ runId: 7_000_000 + i, status: "completed", at: 100 });
          sends.push(
            postGithub(gateway.url, "workflow_run", body, { delivery: `frozen-${i}` }).then((result) => {
              const events = (result.body.events ?? []) as Array<{ id: string }>;
              for (const event of events) ids.add(event.id);
              answers.push({
                sent: sent - freezeAt,
                answered: performance.now() - freezeAt,
                ms: performance.now() - sent,
                status: result.status,
                spooled: Number(result.body.spooled),
              });
            }),
          );
        }
        await Promise.all([fault, ...sends]);

        // sent before the first publish of the freeze timed out: they wait until it does
        const first = answers.filter((a) => a.sent > 0 && a.sent < PUBLISH_TIMEOUT);
        // sent once the first publish of the freeze had timed out, while nats-server was still frozen
        const known = answers.filter((a) => a.sent > PUBLISH_TIMEOUT + 1000 && a.sent < FROZEN);
        // sent well after SIGCONT: published directly again
        const after = answers.filter((a) => a.sent > FROZEN + 1500);
        const worst = (list: readonly Answer[]) => Math.max(...list.map((a) => a.ms));
        const last = Math.max(...first.map((a) => a.answered));
        console.log(
          `${answers.length} webhooks, ${answers.filter((a) => a.spooled > 0).length} spooled; ` +
            `sent before the first timeout: ${first.length}, the last answered ${last.toFixed(0)} ms into the freeze; ` +
            `sent once NATS was known frozen: ${known.length}, slowest ${worst(known).toFixed(0)} ms; ` +
            `after SIGCONT: ${after.length}, slowest ${worst(after).toFixed(0)} ms; readyz during the freeze: ${JSON.stringify(readyDuringFreeze)}`,
        );
        assert.deepEqual(
          answers.filter((a) => a.status !== 202),
          [],
          "every webhook answered 202",
        );
        assert.equal(ids.size, count, "one event per webhook");
        assert.ok(first.length >= 20 && known.length >= 50 && after.length >= 20);
        // without the fix each waits out its own timeout, the last until nearly 2 timeouts in
        assert.ok(
          last < PUBLISH_TIMEOUT + 1000,
          `webhooks waiting when the first publish timed out stop waiting: the last answered ${last.toFixed(0)} ms into the freeze`,
        );
        // without the fix each of these waits out the publish timeout (or, near SIGCONT, the rest of the freeze)
        assert.ok(
          worst(known) < PUBLISH_TIMEOUT / 2,
          `webhooks sent while NATS was known not to answer are spooled at once: slowest ${worst(known).toFixed(0)} ms`,
        );
        assert.ok(
          known.every((a) => a.spooled > 0),
          "spooled, not waiting for the frozen server",
        );
        assert.ok(
          after.every((a) => a.spooled === 0),
          "once NATS answers again webhooks go to JetStream, not the spool",
        );
        assert.match(readyDuringFreeze.stream ?? "", /not answering/);
        assert.equal(readyDuringFreeze.nats, "connected", "the frozen server's connection was still up");

        await waitUntil(
          async () =>
            (await metricSum(gateway.url, "buildcast_spool_events")) === 0 &&
            (await storedCount(nats.url)) >= ids.size,
          () => "the spool to be republished",
          30_000,
        );
        const stream = await countStream(nats.url, ids);
        console.log(
          `stream: ${stream.stored} messages, ${stream.distinct} distinct, ${stream.missing} missing, ${stream.doubled} doubled`,
        );
        assert.equal(stream.stored, ids.size);
        assert.equal(stream.missing, 0);
        assert.equal(stream.doubled, 0);
        const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as Record<string, string>;
        assert.equal(ready.stream, "ready");
      } finally {
        if (frozen) process.kill(pid, "SIGCONT");
        await dispose();
      }
    },
  );
}

/** A private nats-server and a gateway of `role` with its spool, publish timeout PUBLISH_TIMEOUT and `extraYaml`. */
async function frozenSetUp(role: "ingress" | "all", extraYaml = "") {
  const nats = await startNats();
  const dir = mkdtempSync(join(tmpdir(), "buildcast-frozen-"));
  writeFileSync(join(dir, "config.yaml"), `nats:\n  publishTimeout: ${PUBLISH_TIMEOUT}ms\n${extraYaml}`);
  const env = {
    NATS_URL: nats.url,
    BUILDCAST_SPOOL_DIR: join(dir, "spool"),
    BUILDCAST_CONFIG: join(dir, "config.yaml"),
    BUILDCAST_ROLE: role,
    LOG_LEVEL: "warn",
  };
  const cleanUp = async (): Promise<void> => {
    await nats.dispose();
    rmSync(dir, { recursive: true, force: true });
  };
  const gateway = await startGatewayProcess(env).catch(async (error: unknown) => {
    await cleanUp();
    throw error;
  });
  const pid = nats.pid();
  assert.ok(pid);
  return {
    nats,
    gateway,
    pid,
    dispose: async (): Promise<void> => {
      await gateway.terminate().catch(() => null);
      await cleanUp();
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

test(
  "nats-server killed while webhooks wait for its acks: they are spooled at once, not after the publish timeout, and stored once",
  { timeout: 90_000 },
  async () => {
    const { nats, gateway, pid, dispose } = await frozenSetUp("ingress");
    try {
      // frozen first, so that the webhooks' publishes are all waiting when the connection drops
      process.kill(pid, "SIGSTOP");
      const frozenAt = performance.now();
      const sends = Array.from({ length: 20 }, async (_, i) => {
        await sleep(i * 20);
        const body = workflowRun({ runId: 7_100_000 + i, status: "completed", at: 100 });
        const result = await postGithub(gateway.url, "workflow_run", body, { delivery: `killed-${i}` });
        return { result, answered: performance.now() };
      });
      await sleep(600);
      const killedAt = performance.now();
      await nats.stop(true);
      const answers = await Promise.all(sends);
      const latest = Math.max(...answers.map((a) => a.answered - killedAt));
      console.log(
        `killed ${Math.round(killedAt - frozenAt)} ms into the freeze; the last webhook answered ${latest.toFixed(0)} ms after the kill (publish timeout ${PUBLISH_TIMEOUT} ms)`,
      );
      const ids = new Set<string>();
      for (const { result } of answers) {
        assert.equal(result.status, 202, JSON.stringify(result.body));
        assert.equal(result.body.spooled, 1);
        for (const event of result.body.events as Array<{ id: string }>) ids.add(event.id);
      }
      // without the fix they wait until the first of their publishes times out, 1.4 s after the kill
      assert.ok(latest < 700, `answered ${latest.toFixed(0)} ms after the connection dropped`);

      await nats.restart();
      await waitUntil(
        async () =>
          (await metricSum(gateway.url, "buildcast_spool_events")) === 0 &&
          (await storedCount(nats.url).catch(() => 0)) >= ids.size,
        () => "the spool to be republished",
        30_000,
      );
      const stream = await countStream(nats.url, ids);
      assert.deepEqual(
        { stored: stream.stored, missing: stream.missing, doubled: stream.doubled },
        { stored: ids.size, missing: 0, doubled: 0 },
      );
    } finally {
      await dispose();
    }
  },
);

test(
  "nats-server frozen and the spool full: webhooks are refused at once with 503 and /readyz says not ready, until NATS answers",
  { timeout: 90_000 },
  async () => {
    const { nats, gateway, pid, dispose } = await frozenSetUp("ingress", "spool:\n  maxBytes: 8kb\n");
    let frozen = false;
    const readyz = async () => {
      const response = await fetch(`${gateway.url}/readyz`);
      return { status: response.status, body: (await response.json()) as Record<string, string> };
    };
    try {
      process.kill(pid, "SIGSTOP");
      frozen = true;
      const ids = new Set<string>();
      let refused: { status: number; ms: number; message: string } | null = null;
      for (let i = 0; i < 100 && refused === null; i++) {
        const started = performance.now();
        const body = workflowRun({ runId: 7_200_000 + i, status: "completed", at: 100 });
        const result = await postGithub(gateway.url, "workflow_run", body, { delivery: `full-${i}` });
        if (result.status === 202) {
          for (const event of result.body.events as Array<{ id: string }>) ids.add(event.id);
        } else {
          refused = {
            status: result.status,
            ms: performance.now() - started,
            message: String(result.body.message),
          };
        }
      }
      const during = await readyz();
      console.log(
        `${ids.size} webhooks spooled, then ${JSON.stringify(refused)}; readyz ${during.status} ${JSON.stringify(during.body)}`,
      );
      assert.ok(refused && ids.size >= 2);
      assert.equal(refused.status, 503);
      assert.match(refused.message, /spool is full/);
      assert.ok(refused.ms < PUBLISH_TIMEOUT / 2, `refused at once, not after the publish timeout`);
      // without the fix: 200, the connection being up, though a webhook sent now is refused
      assert.equal(during.status, 503);
      assert.equal(during.body.spool, "full");
      assert.match(during.body.stream ?? "", /not answering/);

      process.kill(pid, "SIGCONT");
      frozen = false;
      await waitUntil(
        async () =>
          (await readyz()).status === 200 && (await metricSum(gateway.url, "buildcast_spool_events")) === 0,
        () => "readiness once NATS answers and the spool is republished",
        30_000,
      );
      const stream = await countStream(nats.url, ids);
      assert.deepEqual(
        { stored: stream.stored, missing: stream.missing, doubled: stream.doubled },
        { stored: ids.size, missing: 0, doubled: 0 },
      );
    } finally {
      if (frozen) process.kill(pid, "SIGCONT");
      await dispose();
    }
  },
);
