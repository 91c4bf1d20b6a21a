import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { Spool, SpoolFullError } from "../../src/bus/spool.ts";
import type { BuildEvent } from "../../src/events/schema.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "buildcast-spool-test-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fakeEvent = (id: string): BuildEvent =>
  ({ id, type: "build.pipeline.finished.v1" }) as unknown as BuildEvent;

test("appended events survive a new Spool on the same directory (a restart) and drain in order", async () => {
  const first = new Spool(dir, 1024 * 1024);
  first.append([fakeEvent("a"), fakeEvent("b")]);
  first.append([fakeEvent("c")]);
  // no close(): as after kill -9
  const second = new Spool(dir, 1024 * 1024);
  assert.equal(second.stats().events, 3);
  const seen: string[] = [];
  const count = await second.drain(async (event) => {
    seen.push(event.id);
  });
  assert.equal(count, 3);
  assert.deepEqual(seen, ["a", "b", "c"]);
  assert.deepEqual(second.stats(), { events: 0, bytes: 0 });
  assert.deepEqual(readdirSync(dir), []);
});

test("a torn last line from a crash mid-write is skipped, the rest is kept", async () => {
  const spool = new Spool(dir, 1024 * 1024);
  spool.append([fakeEvent("a")]);
  spool.close();
  const [segment] = readdirSync(dir);
  appendFileSync(join(dir, segment!), '{"id":"tor');
  const reopened = new Spool(dir, 1024 * 1024);
  const seen: string[] = [];
  await reopened.drain(async (event) => {
    seen.push(event.id);
  });
  assert.deepEqual(seen, ["a"]);
});

test("a failed publish keeps the segment for the next drain; nothing is lost", async () => {
  const spool = new Spool(dir, 1024 * 1024);
  spool.append([fakeEvent("a"), fakeEvent("b")]);
  await assert.rejects(
    spool.drain(async (event) => {
      if (event.id === "b") throw new Error("nats down");
    }),
    /nats down/,
  );
  assert.equal(readdirSync(dir).length, 1);
  const seen: string[] = [];
  await spool.drain(async (event) => {
    seen.push(event.id);
  });
  // "a" again: JetStream drops it by its Nats-Msg-Id
  assert.deepEqual(seen, ["a", "b"]);
});

test("past its size limit the spool refuses with SpoolFullError", () => {
  const spool = new Spool(dir, 200);
  spool.append([fakeEvent("a")]);
  assert.throws(() => spool.append(Array.from({ length: 20 }, (_, i) => fakeEvent(`e${i}`))), SpoolFullError);
  assert.equal(spool.stats().events, 1);
  assert.equal(spool.hasRoom(), true);
});

test("appendAll takes each webhook's events whole or refuses them, together in one segment", async () => {
  const spool = new Spool(dir, 250);
  const refusals = spool.appendAll([
    [fakeEvent("a"), fakeEvent("b")], // 94 bytes
    Array.from({ length: 20 }, (_, i) => fakeEvent(`e${i}`)), // 940 bytes: over the limit
    [fakeEvent("c")], // 47 bytes: still fits after the one refused
  ]);
  assert.deepEqual(
    refusals.map((refusal) => (refusal === null ? "stored" : refusal.name)),
    ["stored", "SpoolFullError", "stored"],
  );
  assert.deepEqual(spool.stats(), { events: 3, bytes: 141 });
  // room is kept for one more webhook like the largest (94 bytes), not for a whole write (141)
  assert.equal(spool.hasRoom(), true);
  assert.equal(readdirSync(dir).length, 1);
  const seen: string[] = [];
  await spool.drain(async (event) => {
    seen.push(event.id);
  });
  assert.deepEqual(seen, ["a", "b", "c"]);
});

test("keeps room for one more webhook like the largest so far, or says it is not ready", () => {
  const spool = new Spool(dir, 250);
  spool.append([fakeEvent("a"), fakeEvent("b")]); // 92 bytes
  assert.equal(spool.hasRoom(), true);
  spool.append([fakeEvent("c"), fakeEvent("d")]);
  assert.equal(spool.hasRoom(), false, "another append of that size would be refused");
  assert.throws(() => spool.append([fakeEvent("e"), fakeEvent("f")]), SpoolFullError);
});

test("a write the disk cuts short is answered with an error and leaves no torn or glued line", async () => {
  // a file size limit of 4 KiB: the sixth 700-byte append is written in part, then refused
  const root = join(import.meta.dirname, "../..");
  const output = execFileSync(
    "bash",
    ["-c", `ulimit -f 4; exec "${process.execPath}" --import tsx test/helpers/spool-writer.ts "${dir}" 9`],
    { cwd: root, encoding: "utf8" },
  );
  const answers = output.trim().split("\n");
  assert.ok(
    answers.some((line) => line.startsWith("error")),
    output,
  );
  const accepted = answers.filter((line) => line.startsWith("ok ")).map((line) => line.slice(3));
  assert.ok(accepted.length > answers.filter((l) => l.startsWith("error")).length, output);
  const spool = new Spool(dir, 1024 * 1024);
  assert.equal(spool.stats().events, accepted.length);
  const drained: string[] = [];
  await spool.drain(async (event) => {
    drained.push(event.id);
  });
  assert.deepEqual(drained, accepted, "every append answered ok comes back, once, in order");
});

test("a segment larger than the heap is counted and drained a piece at a time", () => {
  // one outage, one segment: nothing seals it while NATS is disconnected
  const spool = new Spool(dir, 1024 * 1024 * 1024);
  const padding = "x".repeat(1000);
  const count = 48_000; // 48 MB
  for (let i = 0; i < count; i += 1000) {
    spool.appendAll(
      Array.from({ length: 1000 }, (_, k) => [
        { ...fakeEvent(`e${i + k}`), padding } as unknown as BuildEvent,
      ]),
    );
  }
  spool.close();
  assert.equal(readdirSync(dir).length, 1);
  const root = join(import.meta.dirname, "../..");
  // a heap of 64 MB: read whole, the segment alone (as a string, then lines, then events) is
  // several times that
  const output = execFileSync(
    process.execPath,
    ["--max-old-space-size=64", "--import", "tsx", "test/helpers/spool-reader.ts", dir],
    { cwd: root, encoding: "utf8" },
  );
  assert.equal(output.trim(), `${count} ${count}`);
  assert.deepEqual(readdirSync(dir), []);
});

test("drain keeps up to `window` publishes in flight, in order, and keeps the segment when one fails", async () => {
  const spool = new Spool(dir, 1024 * 1024);
  spool.appendAll(Array.from({ length: 10 }, (_, i) => [fakeEvent(`e${i}`)]));
  const ids = Array.from({ length: 10 }, (_, i) => `e${i}`);
  let inFlight = 0;
  let most = 0;
  const attempt = async (fail: string | null) => {
    const seen: string[] = [];
    const drained = spool.drain(async (event) => {
      seen.push(event.id);
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      if (event.id === fail) throw new Error("no responders");
    }, 4);
    return { drained, seen };
  };
  const failed = await attempt("e5");
  await assert.rejects(failed.drained, /no responders/);
  assert.deepEqual(failed.seen, ids.slice(0, 8), "two windows of four, the second one failing");
  assert.equal(most, 4);
  assert.equal(spool.stats().events, 10, "the segment is kept whole");
  await new Promise((resolve) => setTimeout(resolve, 20));
  const retried = await attempt(null);
  assert.equal(await retried.drained, 10);
  assert.deepEqual(retried.seen, ids, "all again, in order: JetStream drops the ones it has");
  assert.deepEqual(readdirSync(dir), []);
});

test("flushes that keep failing while webhooks arrive leave at most two segments, and lose nothing", async () => {
  // NATS connected but JetStream not answering: every flush fails at its first event, while
  // every interval between flushes spools new webhooks
  const spool = new Spool(dir, 1024 * 1024);
  for (let flush = 0; flush < 50; flush++) {
    spool.append([fakeEvent(`e${flush}`)]);
    await assert.rejects(
      spool.drain(async () => {
        throw new Error("no responders");
      }),
      /no responders/,
    );
    assert.ok(readdirSync(dir).length <= 2, `${readdirSync(dir).length} segments after ${flush + 1} flushes`);
  }
  const seen: string[] = [];
  assert.equal(
    await spool.drain(async (event) => {
      seen.push(event.id);
    }),
    50,
  );
  assert.deepEqual(
    seen,
    Array.from({ length: 50 }, (_, i) => `e${i}`),
  );
  assert.deepEqual(readdirSync(dir), []);
});
