import assert from "node:assert/strict";
import type { Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import express from "express";
import type { BranchState } from "../../src/status/model.ts";
import { applyEvent } from "../../src/status/merge.ts";
import {
  MAX_CATCH_UP_ROWS,
  MAX_STREAMS_PER_CLIENT,
  MAX_UNSENT_BYTES,
  createSseHub,
  type SseHub,
} from "../../src/status/sse.ts";
import { mergeBranch, summarize } from "../../src/status/summary.ts";
import type { StatusView, ViewChange } from "../../src/status/view.ts";
import { buildEvent } from "../helpers/events.ts";

/** An in-memory view the test drives: the hub reads it as it reads the KV-backed one. */
function memoryView() {
  const states = new Map<string, BranchState>();
  const listeners = new Set<(change: ViewChange) => void>();
  let revision = 0;
  const view: StatusView = {
    states: () => states.values(),
    forRepository: (name) => [...states.values()].filter((s) => s.repository.fullName === name),
    revision: () => revision,
    changedSince: () => [],
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  /** a change of one of 50 rows (a long commit title, so each row frame is a few KB) */
  const change = (n: number, rows = 50): void => {
    const branch = `b-${n % rows}`;
    const event = buildEvent({ runId: String(n), branch, title: `t${n} ${"x".repeat(900)}` });
    const run = applyEvent(null, event);
    const state = mergeBranch(null, run, summarize(run, n), branch, 5);
    states.set(branch, state);
    revision = n;
    for (const listener of listeners) listener({ key: branch, revision: n, state, previous: null });
  };
  return { view, change };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const closeOf = (socket: Socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()));
/** Whether `done` settles within `ms`. */
const within = (done: Promise<void>, ms: number) =>
  Promise.race([done.then(() => true), sleep(ms).then(() => false)]);

/** Opens the feed on a raw socket and reads nothing: a client that stopped reading. */
function openStalled(port: number, forwardedFor?: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" }, () => {
      const via = forwardedFor === undefined ? "" : `X-Forwarded-For: ${forwardedFor}\r\n`;
      socket.write(`GET /events HTTP/1.1\r\nHost: x\r\n${via}\r\n`);
      socket.once("data", () => {
        socket.pause();
        resolve(socket);
      });
    });
    socket.setNoDelay(true);
  });
}

describe("live feed limits", () => {
  let server: Server;
  let hub: SseHub;
  let port: number;
  let driver: ReturnType<typeof memoryView>;

  before(async () => {
    driver = memoryView();
    hub = createSseHub(driver.view, { heartbeatMs: 60_000 });
    const app = express();
    app.get("/events", (req, res) => hub.handle(req, res));
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("cuts a stream its client stopped reading, instead of holding every frame for it", async () => {
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const stalled = await openStalled(port);
    const serverSide = await accepted;
    const cut = closeOf(serverSide);
    let n = 0;
    // far more than the socket buffers and the limit hold (a frame is a few KB)
    const frames = Math.ceil((8 * MAX_UNSENT_BYTES + 16 * 1024 * 1024) / 2048);
    while (n < frames && !serverSide.destroyed) {
      // 25 rows changed in one turn: 25 frames in one flush
      for (let k = 0; k < 25; k++) driver.change(++n);
      await tick();
    }
    // the client still reads nothing: only the gateway can have ended the stream
    assert.ok(await within(cut, 5000), `the stream was still open after ${n} frames`);
    stalled.destroy();
  });

  it("answers HEAD with the headers and ends, instead of holding a stream open", async () => {
    // a second request on the same connection is answered only once the HEAD has ended
    const socket = connect({ port, host: "127.0.0.1" });
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    socket.write("HEAD /events HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    const deadline = Date.now() + 5000;
    while (!/HTTP\/1\.1 404/.test(text) && Date.now() < deadline) await sleep(20);
    socket.destroy();
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /text\/event-stream/);
    assert.match(
      text,
      /HTTP\/1\.1 404/,
      "the HEAD ended, so the next request on its connection was answered",
    );
  });

  /** Opens the feed as a browser does, changes `rows` rows in one turn, and reads their events. */
  async function readTurn(rows: number, first: number): Promise<{ text: string; ended: boolean }> {
    const answer = await fetch(`http://127.0.0.1:${port}/events`, { signal: AbortSignal.timeout(20_000) });
    const reader = answer.body!.getReader();
    await reader.read(); // the stream's opening comment: it is registered
    for (let n = 0; n < rows; n++) driver.change(first + n, rows);
    const decoder = new TextDecoder();
    let text = "";
    while ((text.match(/event: row/g) ?? []).length < rows) {
      const { value, done } = await reader.read();
      if (done) return { text, ended: true };
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    return { text, ended: false };
  }

  it("a client that reads gets a turn's frames whole, however many (600 rows changed at once)", async () => {
    const { text, ended } = await readTurn(600, 1_000_000);
    assert.ok(!ended, `the stream ended after ${(text.match(/event: row/g) ?? []).length} of 600 rows`);
    assert.ok(text.length > 1024 * 1024, `a turn of ${text.length} bytes, over the 1 MB limit`);
  });

  it("names the revision only on a turn's last row event, so a cut mid-turn resends the turn", async () => {
    const { text, ended } = await readTurn(3, 2_000_000);
    assert.ok(!ended);
    const events = text.split("\n\n").filter((block) => block.startsWith("event: row"));
    assert.deepEqual(
      events.map((block) => /\nid: \d+\n/.test(block)),
      [false, false, true],
    );
  });

  it("refuses a client's feed past the per-client limit with 429", async () => {
    const sockets = await Promise.all(
      Array.from({ length: MAX_STREAMS_PER_CLIENT }, () => openStalled(port)),
    );
    try {
      const answer = await fetch(`http://127.0.0.1:${port}/events`);
      assert.equal(answer.status, 429);
      assert.equal(answer.headers.get("retry-after"), "30");
      assert.equal(((await answer.json()) as { error: string }).error, "too_many_streams");
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it("counts an IPv6 /56 as one client, as the webhook rate limit does", async () => {
    // one subscriber's /56 holds 2^72 addresses: counted one by one, a single client could
    // take every one of the 1,000 feeds and leave no live dashboard for anybody else
    const app = express();
    app.set("trust proxy", "loopback");
    app.get("/events", (req, res) => hub.handle(req, res));
    const behindProxy = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    const proxied = (behindProxy.address() as AddressInfo).port;
    const sockets = await Promise.all(
      Array.from({ length: MAX_STREAMS_PER_CLIENT }, (_, i) =>
        openStalled(proxied, `2001:db8:0:1::${i + 1}`),
      ),
    );
    const feed = (address: string) =>
      fetch(`http://127.0.0.1:${proxied}/events`, { headers: { "x-forwarded-for": address } });
    try {
      const sameClient = await feed("2001:db8:0:2::1");
      assert.equal(sameClient.status, 429);
      await sameClient.body?.cancel();
      const another = await feed("2001:db8:1::1");
      assert.equal(another.status, 200);
      await another.body?.cancel();
    } finally {
      for (const socket of sockets) socket.destroy();
      behindProxy.closeAllConnections();
      await new Promise((resolve) => behindProxy.close(resolve));
    }
  });

  it("close() ends a stalled stream too, without a write after its end", async () => {
    const hubOwn = createSseHub(driver.view, { heartbeatMs: 20 });
    const app = express();
    app.get("/events", (req, res) => hubOwn.handle(req, res));
    const own = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    const errors: unknown[] = [];
    const onError = (error: unknown) => errors.push(error);
    process.on("uncaughtException", onError);
    try {
      const accepted = new Promise<Socket>((resolve) => own.once("connection", resolve));
      const stalled = await openStalled((own.address() as AddressInfo).port);
      const serverSide = await accepted;
      const ended = closeOf(serverSide);
      // until the socket's buffers are full and some of the stream waits in the gateway, well
      // below the limit at which the stream would be cut anyway
      for (let n = 100_000; serverSide.writableLength < 64 * 1024; n += 25) {
        for (let k = 0; k < 25; k++) driver.change(n + k);
        await tick();
      }
      assert.ok(!serverSide.destroyed);
      hubOwn.close();
      // the client never reads, so the stream's end never flushes: the gateway lets go anyway,
      // and heartbeats every 20 ms would write after the end if they were left running
      assert.ok(await within(ended, 5000), "close() let go of the stalled stream");
      await sleep(200);
      stalled.destroy();
      assert.deepEqual(errors, []);
    } finally {
      process.off("uncaughtException", onError);
      own.closeAllConnections();
      await new Promise((resolve) => own.close(resolve));
    }
  });
});

describe("live feed catch-up", () => {
  /** a view of `rows` rows, every one changed since revision 0 */
  function changedView(rows: number): StatusView {
    const changes: ViewChange[] = [];
    for (let n = 1; n <= rows; n++) {
      const branch = `b-${n}`;
      const run = applyEvent(
        null,
        buildEvent({ runId: String(n), branch, title: `t${n} ${"x".repeat(400)}` }),
      );
      const state = mergeBranch(null, run, summarize(run, n), branch, 5);
      changes.push({ key: branch, revision: n, state, previous: null });
    }
    return {
      states: () => changes.flatMap((change) => (change.state ? [change.state] : [])).values(),
      forRepository: () => [],
      revision: () => rows,
      changedSince: (revision) => changes.filter((change) => change.revision > revision),
      subscribe: () => () => undefined,
    };
  }

  /** What a feed opened with ?since= sends before its first heartbeat would come. */
  async function catchUp(view: StatusView, since: number): Promise<string> {
    const hub = createSseHub(view, { heartbeatMs: 60_000 });
    const app = express();
    app.get("/events", (req, res) => hub.handle(req, res));
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await fetch(`http://127.0.0.1:${port}/events?since=${since}`);
      const reader = answer.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      // the catch-up is written in the same turn as the opening: it is all there after a pause
      for (const deadline = Date.now() + 2000; Date.now() < deadline;) {
        const read = await Promise.race([reader.read(), sleep(300).then(() => null)]);
        if (read === null || read.done) break;
        text += decoder.decode(read.value, { stream: true });
      }
      await reader.cancel();
      return text;
    } finally {
      hub.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it("sends the rows a reconnecting page missed", async () => {
    const text = await catchUp(changedView(MAX_CATCH_UP_ROWS + 10), 10);
    assert.equal((text.match(/^event: row$/gm) ?? []).length, MAX_CATCH_UP_ROWS);
    assert.doesNotMatch(text, /^event: reload$/m);
  });

  it("asks for a reload instead of a catch-up of more rows, which a client that does not read would hold in the gateway", async () => {
    // 3,000 rows missed are 6 MB of frames, rendered and held for each stream: 100 feeds
    // opened with ?since=0 and never read took a gateway from 230 MB to 2 GB
    const text = await catchUp(changedView(MAX_CATCH_UP_ROWS + 1), 0);
    assert.doesNotMatch(text, /^event: row$/m);
    assert.match(text, /^event: reload\ndata: \{"rows":\d+\}$/m);
    assert.ok(text.length < 4096, `the catch-up was ${text.length} bytes`);
  });
});
