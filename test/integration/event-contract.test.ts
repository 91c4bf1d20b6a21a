import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AckPolicy, DeliverPolicy, jetstream, type JsMsg } from "@nats-io/jetstream";
import { parseBuildEvent } from "../../src/events/build-event.ts";
import { startIngress, type IngressHarness } from "../helpers/ingress.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";
import { postGithub, postGitlab, readFixture } from "../helpers/webhooks.ts";

/**
 * What a third-party consumer of BUILD_EVENTS sees: the messages as they are stored, read
 * the way docs/events.md ("Consuming the stream") tells readers to read them.
 */

/**
 * The CloudEvents NATS binding: on a server with headers (2.2+), a message is structured-mode
 * only when its Content-Type header starts with application/cloudevents; any other message is
 * binary-mode, its attributes read from `ce-` headers.
 * https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/nats-protocol-binding.md#3-nats-message-mapping
 */
function contentMode(msg: Pick<JsMsg, "headers">): "structured" | "binary" {
  const contentType = msg.headers?.get("Content-Type") ?? "";
  return contentType.toLowerCase().startsWith("application/cloudevents") ? "structured" : "binary";
}

async function fetchAll(ingress: IngressHarness, durable: string, max: number): Promise<JsMsg[]> {
  const consumer = await jetstream(ingress.bus.nc).consumers.get("BUILD_EVENTS", durable);
  const batch = await consumer.fetch({ max_messages: max, expires: 1000 });
  const out: JsMsg[] = [];
  for await (const msg of batch) {
    out.push(msg);
    msg.ack();
  }
  return out;
}

describe("the build event stream, as a third-party consumer reads it", () => {
  let nats: TestServer;
  let ingress: IngressHarness;
  before(async () => {
    nats = await startNats();
    ingress = await startIngress(nats, null);
    const github = await postGithub(
      ingress.url,
      "workflow_run",
      readFixture("github/workflow_run.completed.2.json"),
    );
    assert.equal(github.status, 202, JSON.stringify(github.body));
    const gitlab = await postGitlab(
      ingress.url,
      "Pipeline Hook",
      readFixture("gitlab/pipeline.nuecagram-real.failed.json"),
    );
    assert.equal(gitlab.status, 202, JSON.stringify(gitlab.body));
  });
  after(async () => {
    await ingress.close();
    await nats.dispose();
  });

  test("every message is a structured-mode CloudEvent by the NATS binding, its body the event", async () => {
    await ingress.bus.jsm.consumers.add("BUILD_EVENTS", {
      durable_name: "contract-all",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await fetchAll(ingress, "contract-all", 100);
    assert.equal(messages.length, 7);
    for (const msg of messages) {
      assert.equal(
        contentMode(msg),
        "structured",
        `${msg.subject}: Content-Type ${msg.headers?.get("Content-Type")}`,
      );
      assert.equal(msg.headers?.get("Content-Type"), "application/cloudevents+json; charset=utf-8");
      assert.deepEqual(
        [...(msg.headers?.keys() ?? [])].filter((key) => key.toLowerCase().startsWith("ce-")),
        [],
        "no ce- headers: the attributes are in the body only",
      );
      const event = parseBuildEvent(msg.json());
      assert.equal(event.type, msg.subject);
      assert.equal(msg.headers?.get("Nats-Msg-Id"), event.id);
    }
  });

  // docs/events.md, "Consuming the stream": what `nats consumer add BUILD_EVENTS my-dashboard
  // --pull --deliver all --ack explicit --filter 'build.pipeline.finished.v1' --defaults` creates,
  // then `nats consumer next BUILD_EVENTS my-dashboard --count 10` (the nats CLI is not installed)
  test("the docs' nats CLI consumer gets every finished pipeline from the start", async () => {
    await ingress.bus.jsm.consumers.add("BUILD_EVENTS", {
      durable_name: "my-dashboard",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: "build.pipeline.finished.v1",
    });
    const messages = await fetchAll(ingress, "my-dashboard", 10);
    const events = messages.map((msg) => parseBuildEvent(msg.json()));
    assert.deepEqual(
      events.map((event) => `${event.data.provider} ${event.type} ${event.data.status}`),
      ["github build.pipeline.finished.v1 success", "gitlab build.pipeline.finished.v1 canceled"],
    );
  });

  test("the docs' Node consumer (build.*.finished.v1, consume, json, ack) reads every outcome", async () => {
    await ingress.bus.jsm.consumers.add("BUILD_EVENTS", {
      durable_name: "my-node-dashboard",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: "build.*.finished.v1",
    });
    const consumer = await jetstream(ingress.bus.nc).consumers.get("BUILD_EVENTS", "my-node-dashboard");
    const seen: string[] = [];
    const messages = await consumer.consume();
    for await (const msg of messages) {
      const event = msg.json<{
        id: string;
        subject: string;
        data: { status: string; run: { name: string } };
      }>();
      seen.push(`${event.subject} ${event.data.run.name} ${event.data.status}`);
      msg.ack();
      if (seen.length === 7) break;
    }
    assert.equal(seen.length, 7);
    assert.equal(seen.filter((line) => line.startsWith("gitlab/105/53479 pipeline ")).length, 6);
  });

  test("`nats sub 'build.>'` sees an event as it is published", async () => {
    const subscription = ingress.bus.nc.subscribe("build.>", { max: 1 });
    await ingress.bus.nc.flush();
    const result = await postGithub(
      ingress.url,
      "workflow_job",
      readFixture("github/workflow_job.completed.1.json"),
    );
    assert.equal(result.status, 202);
    for await (const msg of subscription) {
      assert.equal(msg.headers?.get("Content-Type"), "application/cloudevents+json; charset=utf-8");
      assert.equal(parseBuildEvent(msg.json()).type, msg.subject);
    }
  });
});
