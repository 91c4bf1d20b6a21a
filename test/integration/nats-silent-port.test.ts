import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { test } from "node:test";
import { connectBus } from "../../src/bus/connect.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { eventually } from "../helpers/poll.ts";

test("a connect to a port that never answers as NATS leaves no connection open", async () => {
  // a load balancer without a backend, another service's port: it takes the connection, says nothing
  const held = new Set<Socket>();
  let taken = 0;
  const server = createServer((socket) => {
    taken += 1;
    held.add(socket);
    socket.on("close", () => held.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const logger = createLogger({ level: "silent", secrets: [] });
    await assert.rejects(connectBus(`nats://127.0.0.1:${port}`, logger), /timeout/);
    assert.equal(taken, 1);
    // each attempt of the gateway's background connect (one every 6 s) used to keep its socket
    // for as long as the port held it, until the process ran out of file descriptors
    await eventually(
      () => held.size === 0,
      "the client to close the connection of the timed-out connect",
      5000,
    );
  } finally {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
