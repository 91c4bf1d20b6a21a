import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startTestGateway } from "../helpers/gateway.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { startNats } from "../helpers/servers.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";

const metric = (text: string, name: string): number =>
  text
    .split("\n")
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);

// nats-server's JetStream store full (its max_file_store, or the volume under it): JetStream
// refuses every write, to BUILD_EVENTS and to the KV buckets alike, with "insufficient
// resources". Webhooks go to the spool; the consumers must wait for room, not spend their
// deliveries on it and give the events up, for they are gone once max_deliver is spent.
test(
  "JetStream's store full: no event that got a 202 is lost, and all of them are applied once there is room",
  { timeout: 150_000 },
  async () => {
    const confDir = mkdtempSync(join(tmpdir(), "buildcast-nats-conf-"));
    const conf = join(confDir, "jetstream.conf");
    writeFileSync(conf, "jetstream { max_file_store: 1MB }\n");
    const nats = await startNats(undefined, { args: ["-c", conf] });
    const gateway = await startTestGateway({
      nats,
      overrides: {
        nats: { consumer: { maxDeliver: 3, ackWait: 5000 } },
        log: { level: "info" },
      },
    });
    try {
      const accepted: number[] = [];
      let spooled = 0;
      // runs until the store is full and a while after (the spool takes them meanwhile)
      for (let n = 1; n <= 600 && spooled < 50; n++) {
        const runId = 9_100_000 + n;
        const title = `Change ${n}: ${"a long commit message ".repeat(40)}`;
        const body = JSON.parse(
          workflowRun({ runId, status: "completed", conclusion: "failure", at: 60 }),
        ) as { workflow_run: { head_commit: { message: string } } };
        body.workflow_run.head_commit.message = title;
        const answer = await postGithub(gateway.url, "workflow_run", JSON.stringify(body), {
          delivery: `delivery-${runId}`,
        });
        assert.equal(answer.status, 202, `webhook ${n}: ${JSON.stringify(answer.body)}`);
        accepted.push(runId);
        if ((answer.body as { spooled?: number }).spooled === 1) spooled += 1;
      }
      assert.equal(spooled, 50, "the store filled up");
      const readyz = async (): Promise<{ status: number; stream: string }> => {
        const res = await fetch(`${gateway.url}/readyz`);
        const body = (await res.json()) as { stream: string };
        return { status: res.status, stream: body.stream };
      };
      // ready, for the spool takes webhooks; but an operator reading it learns why they go there
      assert.deepEqual(await readyz(), {
        status: 200,
        stream: "full (insufficient resources); webhooks go to the spool",
      });
      // longer than status-store's three deliveries take (1 s and 2 s apart)
      await sleep(8000);
      const refused = gateway.logs.filter((line) => line.includes("insufficient resources")).length;
      assert.ok(refused > 0, "JetStream refused writes");
      // the flusher tries every spool.flushInterval (200 ms here): it says so once, not each time
      const paused = gateway.logs.filter((line) => line.includes("spool flush paused")).length;
      assert.ok(paused <= 1, `${paused} "spool flush paused" lines in 8 s`);

      // the operator makes room: a larger store
      writeFileSync(conf, "jetstream { max_file_store: 64MB }\n");
      await nats.restart();

      await eventually(
        async () =>
          metric(await (await fetch(`${gateway.url}/metrics`)).text(), "buildcast_spool_events") === 0,
        "the spool republished",
        30_000,
      );
      const missing = await eventually(
        async () => {
          const absent: number[] = [];
          for (const runId of accepted) {
            const res = await fetch(`${gateway.url}/api/v1/runs/github/${runId}`);
            await res.arrayBuffer();
            if (res.status !== 200) absent.push(runId);
          }
          return absent.length === 0 ? absent : undefined;
        },
        "every accepted run in the status store",
        60_000,
      ).catch(async () => {
        const absent: number[] = [];
        for (const runId of accepted) {
          const res = await fetch(`${gateway.url}/api/v1/runs/github/${runId}`);
          await res.arrayBuffer();
          if (res.status !== 200) absent.push(runId);
        }
        return absent;
      });
      assert.deepEqual(missing, [], `${missing.length} of ${accepted.length} accepted runs never applied`);
      assert.deepEqual(await readyz(), { status: 200, stream: "ready" });
      const deadLettered = gateway.logs.filter((line) => line.includes("message dead-lettered")).length;
      assert.equal(deadLettered, 0, "no event given up");
    } finally {
      await gateway.close();
      await nats.dispose();
      rmSync(confDir, { recursive: true, force: true });
    }
  },
);
