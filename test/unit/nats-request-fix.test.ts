import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { RequestOne } from "@nats-io/nats-core/internal";
import { NoRespondersError, RequestError, TimeoutError } from "@nats-io/nats-core";
import type { Msg } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { connectBus } from "../../src/bus/connect.ts";
import { upstreamResolver } from "../../src/bus/nats-request-fix.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { startNats } from "../helpers/servers.ts";

/** A RequestOne whose timer, promise and mux only record what is done to them. */
function recordingRequest(): { request: RequestOne; calls: string[] } {
  const calls: string[] = [];
  const request = Object.create(RequestOne.prototype) as RequestOne;
  Object.assign(request, {
    timer: { cancel: () => calls.push("timer.cancel") },
    deferred: {
      resolve: (msg: unknown) => calls.push(`resolve ${String(msg)}`),
      reject: (error: Error) => calls.push(`reject ${error.name}: ${error.message}`),
    },
    mux: {
      cancel: (r: unknown) => calls.push(r === request ? "mux.cancel" : "mux.cancel (another request)"),
    },
  });
  return { request, calls };
}

const MSG = "msg" as unknown as Msg;

describe("nats.js request fix", () => {
  test("upstream still rejects every resolved request with a new RequestError (else delete src/bus/nats-request-fix.ts)", () => {
    const { request, calls } = recordingRequest();
    upstreamResolver.call(request, null, MSG);
    assert.ok(calls.includes("resolve msg"));
    assert.ok(
      calls.includes("reject RequestError: cancelled"),
      `nats.js no longer builds an error for a settled request (${calls.join(", ")}): the fix is not needed`,
    );
  });

  test("a resolved request stops its timer, resolves and leaves the mux; nothing is rejected", () => {
    const { request, calls } = recordingRequest();
    request.resolver(null, MSG);
    assert.deepEqual(calls, ["timer.cancel", "resolve msg", "mux.cancel"]);
  });

  test("a failed request takes nats.js's own path", () => {
    const { request, calls } = recordingRequest();
    request.resolver(new Error("boom"), MSG);
    assert.ok(
      calls.some((call) => call.startsWith("reject") && call.includes("boom")),
      calls.join(", "),
    );
    assert.ok(calls.includes("mux.cancel"));
  });

  test("the fix is applied to the one nats-core every NATS package uses", () => {
    const ours = import.meta.resolve("@nats-io/nats-core/internal");
    for (const pkg of ["@nats-io/transport-node", "@nats-io/jetstream", "@nats-io/kv"]) {
      const theirs = createRequire(import.meta.resolve(pkg)).resolve("@nats-io/nats-core/internal");
      assert.equal(fileURLToPath(ours), theirs, `${pkg} has a nats-core of its own`);
    }
  });

  test("on a real server: requests, JetStream publishes and KV reads settle once and leave nothing behind; failures fail as before", async () => {
    const nats = await startNats();
    const bus = await connectBus(nats.url, createLogger({ level: "silent", secrets: [] }), "fix-test");
    // nats-core's map of requests waiting for an answer (internal): empty once all settled
    const waiting = (): number =>
      (
        bus.nc as unknown as { protocol: { muxSubscriptions: { size(): number } } }
      ).protocol.muxSubscriptions.size();
    let cancels = 0;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- only ever called with .call(request, …)
    const cancel = RequestOne.prototype.cancel;
    RequestOne.prototype.cancel = function (this: RequestOne, error?: Error): void {
      cancels += 1;
      cancel.call(this, error);
    };
    try {
      const sub = bus.nc.subscribe("echo.>", {
        callback: (_error, msg) => {
          msg.respond(`${msg.subject}:${msg.string()}`);
        },
      });
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => bus.nc.request(`echo.${i % 7}`, String(i), { timeout: 5000 })),
      );
      answers.forEach((answer, i) => assert.equal(answer.string(), `echo.${i % 7}:${i}`));

      await bus.jsm.streams.add({ name: "FIX", subjects: ["fix.>"] });
      const acks = await Promise.all(
        Array.from({ length: 50 }, (_, i) => bus.js.publish(`fix.${i}`, "x", { msgID: `m${i % 25}` })),
      );
      assert.equal(
        acks.filter((ack) => ack.duplicate).length,
        25,
        "JetStream acks arrive, duplicates marked",
      );
      const kv = await new Kvm(bus.nc).create("fixkv");
      await kv.put("a", "1");
      assert.equal((await kv.get("a"))?.string(), "1");
      assert.equal(await kv.get("missing"), null);

      assert.equal(cancels, 0, "a request that was answered is never cancelled (and builds no error)");
      assert.equal(waiting(), 0, "every answered request left nats-core's request map");

      await assert.rejects(bus.nc.request("nobody.here", "x", { timeout: 5000 }), (error: unknown) => {
        assert.ok(error instanceof RequestError && error.cause instanceof NoRespondersError, String(error));
        return true;
      });
      bus.nc.subscribe("silent");
      await assert.rejects(bus.nc.request("silent", "x", { timeout: 100 }), TimeoutError);
      assert.equal(waiting(), 0, "failed requests left the map too");
      // the connection still works after both failures
      assert.equal((await bus.nc.request("echo.x", "again", { timeout: 5000 })).string(), "echo.x:again");
      sub.unsubscribe();
    } finally {
      RequestOne.prototype.cancel = cancel;
      await bus.close();
      await nats.dispose();
    }
  });
});
