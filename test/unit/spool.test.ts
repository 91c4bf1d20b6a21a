import assert from "node:assert/strict";
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
