import assert from "node:assert/strict";
import type { Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import express from "express";
import { createStatusRouter } from "../../src/status/router.ts";
import { createSseHub } from "../../src/status/sse.ts";
import { memoryView } from "../helpers/dashboard.ts";

/** Sends GET `path` on a raw socket, reads the status line, then reads nothing more. */
function openStalled(port: number, path: string): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
    socket.once("error", reject);
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      resolve({ socket, head: chunk.toString("latin1", 0, 1000) });
    });
  });
}

describe("dashboard answers to clients that do not read them, or ask again and again", () => {
  const ANSWER_MEMORY = 16 * 1024 * 1024;
  let server: Server;
  let port: number;
  let pageBytes = 0;

  let renders = 0;

  before(async () => {
    const { view: rows, set } = memoryView("acme/monorepo-with-a-long-name");
    // every rendering of the page reads every row once
    const view = {
      ...rows,
      states: () => {
        renders++;
        return rows.states();
      },
    };
    // a large organisation's dashboard: a few MB of HTML, uncompressed for a client that asks so
    for (let n = 1; n <= 3000; n++) set(`feature/a-branch-with-a-long-name-${n}`, String(n), "success");
    const app = express();
    app.use(
      createStatusRouter({
        view,
        sse: createSseHub(view, { heartbeatMs: 60_000 }),
        apiToken: null,
        locateRun: () => Promise.resolve(null),
        answerMemory: ANSWER_MEMORY,
      }),
    );
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
    pageBytes = (await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer()).byteLength;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("holds at most server's answer memory for them: past it, 503 busy, and a page again once they go", async () => {
    assert.ok(pageBytes > 3 * 1024 * 1024, `a page of ${pageBytes} bytes`);
    // each such client keeps its page in the gateway (what the kernel's buffers do not take):
    // 100 of them took a real gateway from 200 MB to 700 MB, and nothing limited their number
    const stalled: Socket[] = [];
    let refused = "";
    try {
      for (let i = 0; i < 40 && refused === ""; i++) {
        const { socket, head } = await openStalled(port, "/");
        stalled.push(socket);
        if (!head.startsWith("HTTP/1.1 200")) refused = head;
      }
      assert.match(refused, /^HTTP\/1\.1 503/, `${stalled.length} pages of ${pageBytes} bytes held unsent`);
      assert.match(refused, /retry-after: 1/i);
      assert.match(refused, /"error":"busy"/);
      assert.ok(stalled.length >= 3, `refused after ${stalled.length} pages`);
    } finally {
      for (const socket of stalled) socket.destroy();
    }
    // their answers are let go with their connections
    const deadline = Date.now() + 5000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      const answer = await fetch(`http://127.0.0.1:${port}/`);
      status = answer.status;
      await answer.arrayBuffer();
    }
    assert.equal(status, 200);
  });

  it("renders the page once for the requests of a second, however many", async () => {
    // each rendering of 3,000 rows holds the event loop for some 100 ms: four clients loading
    // the page over and over made webhooks wait 1.8 s (p50) for their answer
    const before = renders;
    const asked = 20;
    const answers = await Promise.all(
      Array.from({ length: asked }, async () => {
        const answer = await fetch(`http://127.0.0.1:${port}/`, { headers: { "accept-encoding": "gzip" } });
        await answer.arrayBuffer();
        return answer.status;
      }),
    );
    assert.deepEqual(
      answers,
      Array.from({ length: asked }, () => 200),
    );
    assert.ok(renders - before <= 2, `${renders - before} renderings for ${asked} requests`);
  });
});
