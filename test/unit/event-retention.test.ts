import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { BuildEvent } from "../../src/events/schema.ts";
import { normalizeGithub } from "../../src/normalize/github.ts";
import { normalizeGitlab } from "../../src/normalize/gitlab.ts";

// A full collection on demand, without starting node with --expose-gc.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const FIXTURES = new URL("../fixtures/webhooks/", import.meta.url);
const WEBHOOKS = 20;
const MESSAGE_BYTES = 1_000_000;
const TITLE = "Merge pull request #4821 from acme/feature/build-cache";

type Json = Record<string, unknown>;

/** A fixture's raw text with `edit` applied, as the gateway receives it: a body to parse. */
function body(path: string, edit: (payload: Json) => void): string {
  const payload = JSON.parse(readFileSync(new URL(path, FIXTURES), "utf8")) as Json;
  edit(payload);
  return JSON.stringify(payload);
}

/** A squash-merge message: a short title over a megabyte of body. */
const message = (): string =>
  `${TITLE}\n\n${"* Cache the dependency layer between builds\n".repeat(MESSAGE_BYTES / 44)}`;

/**
 * Bytes of heap still used once `WEBHOOKS` events are held (as in-flight webhooks hold theirs
 * until JetStream acks) and every payload they were read from is garbage.
 */
function retainedPerEvent(normalize: (text: string) => BuildEvent): { bytes: number; events: BuildEvent[] } {
  gc();
  const before = process.memoryUsage().heapUsed;
  const events: BuildEvent[] = [];
  for (let i = 0; i < WEBHOOKS; i++) events.push(normalize(String(i)));
  gc();
  return { bytes: (process.memoryUsage().heapUsed - before) / WEBHOOKS, events };
}

const github = (file: string, event: string, edit: (payload: Json, id: string) => void) =>
  retainedPerEvent((id) => {
    const result = normalizeGithub({
      event,
      deliveryId: id,
      payload: JSON.parse(body(`github/${file}`, (payload) => edit(payload, id))) as unknown,
    });
    assert.ok(result.handled && result.events[0]);
    return result.events[0];
  });

const gitlab = (file: string, event: string) =>
  retainedPerEvent((id) => {
    const text = body(`gitlab/${file}`, (payload) => {
      const commit = payload["commit"] as Json;
      delete commit["title"];
      commit["message"] = message();
      if (typeof payload["object_attributes"] === "object")
        (payload["object_attributes"] as Json)["id"] = Number(id) + 1;
      else payload["build_id"] = Number(id) + 1;
    });
    const result = normalizeGitlab({ event, deliveryId: id, payload: JSON.parse(text) as unknown });
    assert.ok(result.handled && result.events[0]);
    return result.events[0];
  });

describe("an event does not keep its webhook's commit message alive", () => {
  // A title cut out of the message as a substring is, in V8, a view that holds the whole
  // message: every in-flight webhook would keep its payload's largest string until acked.
  const check = ({ bytes, events }: { bytes: number; events: BuildEvent[] }) => {
    for (const event of events) assert.equal(event.data.commit.title, TITLE);
    assert.ok(bytes < MESSAGE_BYTES / 10, `each event retains ${Math.round(bytes)} bytes`);
  };

  it("github workflow_run", () => {
    check(
      github("workflow_run.completed.1.json", "workflow_run", (payload, id) => {
        const run = payload["workflow_run"] as Json;
        run["id"] = Number(id) + 1;
        (run["head_commit"] as Json)["message"] = message();
      }),
    );
  });

  it("github status", () => {
    check(
      github("status.ex.1.json", "status", (payload, id) => {
        payload["id"] = Number(id) + 1;
        ((payload["commit"] as Json)["commit"] as Json)["message"] = message();
      }),
    );
  });

  it("gitlab Pipeline Hook", () => {
    check(gitlab("pipeline.nuecagram-real.failed.json", "Pipeline Hook"));
  });

  it("gitlab Job Hook", () => {
    check(gitlab("job.nuecagram-real.failed.json", "Job Hook"));
  });
});
