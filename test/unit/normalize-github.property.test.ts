import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseBuildEvent } from "../../src/events/build-event.ts";
import { PayloadError } from "../../src/normalize/errors.ts";
import { GITHUB_HANDLED_EVENTS, normalizeGithub } from "../../src/normalize/github.ts";

const FIXTURES = new URL("../fixtures/webhooks/github/", import.meta.url);
const EVENTS = [...GITHUB_HANDLED_EVENTS.keys()];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function fixturesOf(event: string): Json[] {
  return readdirSync(FIXTURES)
    .filter((file) => file.startsWith(`${event}.`))
    .map((file) => JSON.parse(readFileSync(new URL(file, FIXTURES), "utf8")) as Json);
}

/** Object paths down to `depth`: the fields a normalizer reads all sit near the top. */
function pathsOf(value: Json, depth: number, prefix: readonly string[] = []): string[][] {
  if (depth === 0 || value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, child]) => [
    [...prefix, key],
    ...pathsOf(child, depth - 1, [...prefix, key]),
  ]);
}

/** A copy of `root` with the value at `path` replaced (or removed when `value` is undefined). */
function replaced(root: Json, path: readonly string[], value: Json | undefined): Json {
  const [head, ...rest] = path;
  if (head === undefined || root === null || typeof root !== "object") return root;
  const copy: Record<string, Json> | Json[] = Array.isArray(root) ? [...root] : { ...root };
  const target = copy as Record<string, Json>;
  if (rest.length > 0) target[head] = replaced(target[head] ?? null, rest, value);
  else if (value === undefined) delete target[head];
  else target[head] = value;
  return copy;
}

/** Values that have tripped normalizers before: look-alike times, prototype keys, odd numbers. */
const trickyValue: fc.Arbitrary<Json> = fc.constantFrom<Json>(
  "",
  "constructor",
  "__proto__",
  "toString",
  "completed",
  "in_progress",
  "2020-10-05T16:33:49Z",
  "2020-10-05T16:33:49",
  "9999-12-31T23:59:59Z",
  "0000-01-01T00:00:00Z",
  "refs/pull/x/head",
  "refs/tags/",
  -1,
  0,
  1.5,
  1e308,
  Number.MAX_SAFE_INTEGER + 2,
  [],
  {},
  [{ number: "1", name: 5 }],
);

const replacement: fc.Arbitrary<Json | undefined> = fc.oneof(
  fc.jsonValue() as fc.Arbitrary<Json>,
  trickyValue,
  fc.constant(undefined),
);

/** Normalizes and re-validates; returns the error class name of anything thrown. */
function outcome(event: string, payload: unknown): string {
  try {
    const result = normalizeGithub({ event, deliveryId: null, payload });
    if (result.handled) for (const built of result.events) parseBuildEvent(built);
    return "ok";
  } catch (error) {
    if (error instanceof PayloadError) return "PayloadError";
    throw error;
  }
}

void describe("normalizeGithub never throws anything but PayloadError", () => {
  for (const event of EVENTS) {
    void it(`${event}: arbitrary JSON bodies`, () => {
      fc.assert(
        fc.property(fc.jsonValue(), (payload) => {
          outcome(event, payload);
        }),
        { numRuns: 300 },
      );
    });

    void it(`${event}: fixtures with fields replaced by arbitrary values`, () => {
      const fixtures = fixturesOf(event);
      assert.ok(fixtures.length > 0, `no fixtures for ${event}`);
      const shaped = fc
        .constantFrom(...fixtures)
        .chain((fixture) => {
          const paths = pathsOf(fixture, 3);
          const edit = fc.tuple(fc.constantFrom(...paths), replacement);
          return fc.tuple(fc.constant(fixture), fc.array(edit, { minLength: 1, maxLength: 6 }));
        })
        .map(([fixture, edits]) =>
          edits.reduce((payload, [path, value]) => replaced(payload, path, value), fixture),
        );
      fc.assert(
        fc.property(shaped, (payload) => {
          const first = outcome(event, payload);
          // pure: the same input gives the same answer
          assert.equal(outcome(event, payload), first);
          if (first === "ok") {
            assert.deepEqual(
              normalizeGithub({ event, deliveryId: null, payload }),
              normalizeGithub({ event, deliveryId: null, payload: structuredClone(payload) }),
            );
          }
        }),
        { numRuns: 400 },
      );
    });
  }
});
