import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { GITHUB_HANDLED_EVENTS } from "../../src/normalize/github.ts";
import { startIngress, type IngressHarness } from "../helpers/ingress.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";
import {
  FIXTURES,
  GITHUB_SECRET,
  GITLAB_TOKEN,
  postRaw,
  readFixture,
  type PostResult,
} from "../helpers/webhooks.ts";

const RUNS = 200;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const GITHUB_EVENTS = [...GITHUB_HANDLED_EVENTS.keys(), "ping", "push"];
const GITLAB_EVENTS = ["Pipeline Hook", "Job Hook", "Build Hook", "Deployment Hook", "Push Hook"];

/** Fixtures whose shape the mutation property starts from, per event header. */
function fixturesFor(provider: "github" | "gitlab", prefix: string): string[] {
  return readdirSync(join(FIXTURES, provider))
    .filter((name) => name.startsWith(`${prefix}.`) && name.endsWith(".json"))
    .map((name) => readFixture(`${provider}/${name}`));
}

const SHAPED: ReadonlyArray<{ provider: "github" | "gitlab"; event: string; bodies: string[] }> = [
  ...[...GITHUB_HANDLED_EVENTS.keys()].map((event) => ({
    provider: "github" as const,
    event,
    bodies: fixturesFor("github", event),
  })),
  { provider: "gitlab", event: "Pipeline Hook", bodies: fixturesFor("gitlab", "pipeline") },
  { provider: "gitlab", event: "Job Hook", bodies: fixturesFor("gitlab", "job") },
  { provider: "gitlab", event: "Build Hook", bodies: fixturesFor("gitlab", "build") },
  { provider: "gitlab", event: "Deployment Hook", bodies: fixturesFor("gitlab", "deployment") },
];

/** Values a hostile or broken sender puts where a field was: wrong types, extremes, lies. */
const replacement: fc.Arbitrary<Json | undefined> = fc.oneof(
  fc.jsonValue() as fc.Arbitrary<Json>,
  fc.constantFrom<Json | undefined>(
    undefined,
    null,
    "",
    0,
    -1,
    1.5,
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    "1e400",
    "9999-99-99T99:99:99Z",
    "2024-02-30T25:61:00Z",
    "not a url",
    "javascript:alert(1)",
    "<!channel>",
    "\u0000\u001b[2J",
    [],
    {},
  ),
  fc.string({ unit: "grapheme", maxLength: 40 }),
);

/** Every path into a JSON value (objects and arrays), the root excluded. */
function paths(value: Json, prefix: readonly (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((key) => {
    const path = [...prefix, key];
    return [path, ...paths((value as Record<string | number, Json>)[key] as Json, path)];
  });
}

function setAt(root: Json, path: readonly (string | number)[], value: Json | undefined): void {
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  const last = path.at(-1);
  if (last === undefined) return;
  if (value === undefined && !Array.isArray(node)) delete node[last];
  else node[last] = value ?? null;
}

/** A fixture of the event with 1–6 fields replaced or removed. */
function mutatedFixture(bodies: readonly string[]): fc.Arbitrary<string> {
  return fc
    .record({
      body: fc.constantFrom(...bodies),
      edits: fc.array(fc.tuple(fc.nat(), replacement), { minLength: 1, maxLength: 6 }),
    })
    .map(({ body, edits }) => {
      const payload = JSON.parse(body) as Json;
      for (const [pick, value] of edits) {
        const all = paths(payload);
        const path = all[pick % Math.max(all.length, 1)];
        if (path) setAt(payload, path, value);
      }
      return JSON.stringify(payload);
    });
}

/** Bodies with no relation to any webhook: any JSON, any object, any text, any bytes. */
const randomBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.object().map((value) => JSON.stringify(value)),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }),
  fc
    .record({
      object_kind: fc.constantFrom("pipeline", "build", "deployment"),
      object_attributes: fc.object(),
    })
    .map((value) => JSON.stringify(value)),
);

function post(
  ingress: IngressHarness,
  provider: "github" | "gitlab",
  event: string,
  body: string | Uint8Array,
): Promise<PostResult> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : Uint8Array.from(body);
  const headers: Record<string, string> =
    provider === "github"
      ? {
          "x-github-event": event,
          "x-github-delivery": "fuzz",
          "x-hub-signature-256": `sha256=${createHmac("sha256", GITHUB_SECRET).update(bytes).digest("hex")}`,
        }
      : { "x-gitlab-event": event, "x-gitlab-token": GITLAB_TOKEN };
  return postRaw(`${ingress.url}/webhooks/${provider}`, new Blob([bytes]), {
    "content-type": "application/json",
    ...headers,
  });
}

/** The answer to any correctly authenticated body: documented, JSON, never a server error. */
function assertAnswered(result: PostResult, what: string): void {
  const shown = `${what} → ${result.status} ${JSON.stringify(result.body).slice(0, 300)}`;
  assert.ok(result.status < 500, shown);
  assert.match(result.headers.get("content-type") ?? "", /^application\/json/, shown);
  assert.equal(result.body.raw, undefined, `not JSON: ${shown}`);
  if (result.status >= 400) {
    assert.ok([400, 413, 415].includes(result.status), shown);
    assert.equal(typeof result.body.error, "string", shown);
    assert.equal(typeof result.body.message, "string", shown);
  } else {
    assert.ok([200, 202].includes(result.status), shown);
  }
}

describe("fuzzing the webhook endpoints with validly signed bodies", () => {
  let nats: TestServer;
  let ingress: IngressHarness;
  before(async () => {
    nats = await startNats();
    ingress = await startIngress(nats, null);
  });
  after(async () => {
    await ingress.close();
    await nats.dispose();
  });

  for (const provider of ["github", "gitlab"] as const) {
    test(`${provider}: random bodies under every handled event name`, async () => {
      const events = provider === "github" ? GITHUB_EVENTS : GITLAB_EVENTS;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...events), randomBody, async (event, body) => {
          assertAnswered(await post(ingress, provider, event, body), `${event} ${String(body).slice(0, 80)}`);
        }),
        { numRuns: RUNS },
      );
    });
  }

  for (const shaped of SHAPED) {
    test(`${shaped.provider}: ${shaped.event} fixtures with fields replaced`, async () => {
      assert.ok(shaped.bodies.length > 0, "fixtures exist");
      const statuses = new Set<number>();
      await fc.assert(
        fc.asyncProperty(mutatedFixture(shaped.bodies), async (body) => {
          const result = await post(ingress, shaped.provider, shaped.event, body);
          statuses.add(result.status);
          assertAnswered(result, body.slice(0, 300));
        }),
        { numRuns: RUNS / 2 },
      );
      // mutations that never get past the front door would not exercise the normalizer
      assert.ok(statuses.has(202), `some mutated fixtures are accepted (saw ${[...statuses].join(", ")})`);
    });
  }

  test("fixtures posted under the other provider's and other events' names are refused, not crashed on", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...SHAPED),
        fc.constantFrom(...GITHUB_EVENTS, ...GITLAB_EVENTS),
        fc.constantFrom("github" as const, "gitlab" as const),
        async (shaped, event, provider) => {
          const body = shaped.bodies[0] ?? "{}";
          assertAnswered(
            await post(ingress, provider, event, body),
            `${shaped.event} as ${provider} ${event}`,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  test("the process is still healthy afterwards", async () => {
    const health = await fetch(`${ingress.url}/healthz`);
    assert.equal(health.status, 200);
    assert.ok(!ingress.logs.some((line) => line.includes('"webhook failed"')), "no handler failed");
  });
});
