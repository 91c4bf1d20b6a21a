import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { PayloadError } from "../../src/normalize/errors.ts";
import { normalizeGitlab } from "../../src/normalize/gitlab.ts";
import type { NormalizeResult } from "../../src/normalize/types.ts";

const GITLAB_FIXTURES = new URL("../fixtures/webhooks/gitlab/", import.meta.url);
const OBJECT_KIND_BY_HEADER: Record<string, string> = {
  "Pipeline Hook": "pipeline",
  "Job Hook": "build",
  "Build Hook": "build",
  "Deployment Hook": "deployment",
};
const HEADER_BY_PREFIX: Record<string, string> = {
  pipeline: "Pipeline Hook",
  job: "Job Hook",
  build: "Build Hook",
  deployment: "Deployment Hook",
};

type Path = readonly (string | number)[];

/** Runs the normalizer; passes when it returns or throws PayloadError, fails on any other throw. */
function normalizeOrPayloadError(event: string, payload: unknown): NormalizeResult | PayloadError {
  try {
    return normalizeGitlab({ event, deliveryId: null, payload });
  } catch (error) {
    if (error instanceof PayloadError) return error;
    throw error;
  }
}

/** Every path into a JSON value, the root excluded: the places a mutation can hit. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (typeof value !== "object" || value === null) return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...pathsOf(child, [...prefix, key])]);
}

/** A copy of `root` with the value at `path` replaced, or removed when `value` is undefined. */
function withValueAt(root: unknown, path: Path, value: unknown): unknown {
  const copy = structuredClone(root);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete parent[last];
  else parent[last] = value;
  return copy;
}

const gitlabStyleTime = fc
  .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })
  .chain((date) =>
    fc.constantFrom(
      date.toISOString(),
      date.toISOString().replace(".000Z", "Z"),
      date
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, " UTC"),
      date
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, " +1400"),
      date.toISOString().replace(/\.\d+Z$/, "-12:00"),
    ),
  );

/** Values that stress the fields a GitLab payload is read by. */
const replacement = fc.oneof(
  fc.jsonValue(),
  fc.constant(undefined),
  gitlabStyleTime,
  fc.constantFrom(
    "constructor",
    "__proto__",
    "[REDACTED]",
    "",
    "pipeline",
    "build",
    "deployment",
    "manual",
    "canceling",
    -1,
    1.5,
    1e300,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 2,
    "not a url",
    "http://[::1",
    "https://gitlab.example.com/%E0%A4%A/x",
  ),
);

const mutations = fc.array(fc.tuple(fc.nat(), replacement), { minLength: 1, maxLength: 4 });

void describe("normalizeGitlab never throws anything but PayloadError", () => {
  for (const [event, objectKind] of Object.entries(OBJECT_KIND_BY_HEADER)) {
    void it(`${event}: arbitrary JSON`, () => {
      fc.assert(
        fc.property(fc.jsonValue(), (payload) => {
          normalizeOrPayloadError(event, payload);
        }),
        { numRuns: 300 },
      );
    });

    void it(`${event}: arbitrary JSON with the right object_kind`, () => {
      fc.assert(
        fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (body) => {
          normalizeOrPayloadError(event, { ...body, object_kind: objectKind });
        }),
        { numRuns: 300 },
      );
    });
  }

  const fixtures = readdirSync(GITLAB_FIXTURES)
    .filter((name) => name.endsWith(".json") && HEADER_BY_PREFIX[name.split(".")[0]!] !== undefined)
    .sort();
  for (const name of fixtures) {
    void it(`${name} with fields replaced or removed`, () => {
      const original: unknown = JSON.parse(readFileSync(new URL(name, GITLAB_FIXTURES), "utf8"));
      const event = HEADER_BY_PREFIX[name.split(".")[0]!]!;
      const paths = pathsOf(original);
      fc.assert(
        fc.property(mutations, (changes) => {
          let payload = original;
          for (const [index, value] of changes) {
            // Re-read paths after each change: an earlier one may have removed a subtree.
            const current = pathsOf(payload);
            const path = current[index % Math.max(current.length, 1)] ?? paths[0]!;
            payload = withValueAt(payload, path, value);
          }
          const first = normalizeOrPayloadError(event, payload);
          const second = normalizeOrPayloadError(event, structuredClone(payload));
          // Pure: the same body always gives the same answer.
          assert.deepEqual(first, second);
        }),
        { numRuns: 400 },
      );
    });
  }
});
