import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { test } from "node:test";
import { listenHttp } from "../../src/ingress/listen.ts";

/**
 * A webhook's headers and body usually come in one socket read, and the route starts reading
 * the body a few microtasks later (after the rate limit). A body over the request stream's
 * high-water mark, read before any listener is attached, made Node stop reading the
 * connection and start again once the route read the body: two epoll_ctl calls per webhook,
 * about half the gateway's syscalls per webhook at load.
 */
test("a 20 KB webhook body that came with its headers does not pause its connection", async () => {
  const seen: boolean[] = [];
  const server = await listenHttp(
    (req: IncomingMessage, res: ServerResponse) => {
      void (async () => {
        await Promise.resolve();
        seen.push(req.socket.isPaused());
        req.resume();
        req.on("end", () => res.writeHead(202).end());
      })();
    },
    { host: "127.0.0.1", port: 0, requestTimeout: 10_000 },
  );
  try {
    const { port } = server.address() as AddressInfo;
    const body = JSON.stringify({ message: "x".repeat(20_000) });
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write(
          `POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    assert.match(answer, /^HTTP\/1\.1 202 /);
    assert.deepEqual(seen, [false]);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
