import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import express from "express";
import { createStatusRouter } from "../../src/status/router.ts";
import { createSseHub } from "../../src/status/sse.ts";
import { EMPTY_VIEW as emptyView } from "../../src/status/view.ts";

describe("run detail when the status store does not answer", () => {
  it("is a 503 with Retry-After, not a 500", async () => {
    const app = express();
    app.use(
      createStatusRouter({
        view: emptyView,
        sse: createSseHub(emptyView, { heartbeatMs: 60_000 }),
        apiToken: null,
        ready: () => true,
        // what a KV read gives while NATS is away
        locateRun: () => Promise.reject(new Error("TIMEOUT")),
      }),
    );
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await fetch(`http://127.0.0.1:${port}/api/v1/runs/gitlab/53479`);
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get("retry-after"), "5");
      assert.deepEqual(await answer.json(), {
        error: "unavailable",
        message: "the status store did not answer; retry shortly",
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
