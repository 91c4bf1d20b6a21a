import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  EVENTS_DOC_PATH,
  REGENERATE_COMMAND,
  SCHEMA_PATH,
  generateDocs,
  spliceSections,
} from "../../scripts/events-doc.ts";
import { parseBuildEvent } from "../../src/events/build-event.ts";
import { BUILD_EVENT_SCHEMA_TITLE, buildEventJsonSchema } from "../../src/events/json-schema.ts";
import { DATA_SCHEMA_URI, type BuildEvent } from "../../src/events/schema.ts";
import {
  GITHUB_COMMIT_STATE_TABLE,
  GITHUB_CONCLUSION_TABLE,
  GITHUB_DEPLOYMENT_STATE_TABLE,
  GITHUB_STATUS_TABLE,
  normalizeGithub,
} from "../../src/normalize/github.ts";
import { checksOutcome } from "../../src/normalize/github/status-tables.ts";
import { OWN_CONSUMERS } from "../../src/bus/consumers.ts";
import { GITLAB_STATUS_TABLE, normalizeGitlab } from "../../src/normalize/gitlab.ts";
import type { NormalizeResult } from "../../src/normalize/types.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const FIXTURES = join(ROOT, "test/fixtures/webhooks");

type Schema = Record<string, unknown>;

/**
 * Just enough JSON Schema (2020-12) to check events against the generated file. A keyword it
 * does not know is an error, so a schema change can never make this check silently pass.
 */
const KNOWN_KEYWORDS = new Set([
  ...["$schema", "$id", "title", "description", "format"],
  ...["type", "const", "enum", "pattern", "minLength", "minimum", "maximum"],
  ...["properties", "required", "anyOf", "allOf", "if", "then"],
]);

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case "null":
      return value === null;
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "integer":
      return Number.isInteger(value);
    default:
      return typeof value === type;
  }
}

function validate(schema: Schema, value: unknown, path = "$"): string[] {
  const unknown = Object.keys(schema).filter((key) => !KNOWN_KEYWORDS.has(key));
  if (unknown.length > 0) throw new Error(`${path}: validator does not know ${unknown.join(", ")}`);
  const errors: string[] = [];
  const types = schema["type"] === undefined ? [] : ([schema["type"]].flat() as string[]);
  if (types.length > 0 && !types.some((type) => typeMatches(type, value))) {
    return [`${path}: expected ${types.join(" or ")}`];
  }
  if ("const" in schema && value !== schema["const"])
    errors.push(`${path}: expected ${String(schema["const"])}`);
  if (Array.isArray(schema["enum"]) && !schema["enum"].includes(value)) errors.push(`${path}: not in enum`);
  if (typeof value === "string") {
    if (typeof schema["pattern"] === "string" && !new RegExp(schema["pattern"], "u").test(value)) {
      errors.push(`${path}: does not match ${schema["pattern"]}`);
    }
    if (typeof schema["minLength"] === "number" && [...value].length < schema["minLength"]) {
      errors.push(`${path}: shorter than ${schema["minLength"]}`);
    }
  }
  if (typeof value === "number") {
    if (typeof schema["minimum"] === "number" && value < schema["minimum"])
      errors.push(`${path}: below minimum`);
    if (typeof schema["maximum"] === "number" && value > schema["maximum"])
      errors.push(`${path}: above maximum`);
  }
  if (typeMatches("object", value)) {
    const object = value as Record<string, unknown>;
    for (const key of (schema["required"] ?? []) as string[]) {
      if (!(key in object)) errors.push(`${path}: missing ${key}`);
    }
    for (const [key, child] of Object.entries((schema["properties"] ?? {}) as Record<string, Schema>)) {
      if (key in object) errors.push(...validate(child, object[key], `${path}.${key}`));
    }
  }
  if (Array.isArray(schema["anyOf"])) {
    const branches = (schema["anyOf"] as Schema[]).map((branch) => validate(branch, value, path));
    if (!branches.some((branchErrors) => branchErrors.length === 0))
      errors.push(`${path}: matches no anyOf branch`);
  }
  for (const branch of (schema["allOf"] ?? []) as Schema[]) errors.push(...validate(branch, value, path));
  if (schema["if"] !== undefined && validate(schema["if"] as Schema, value, path).length === 0) {
    errors.push(...validate((schema["then"] ?? {}) as Schema, value, path));
  }
  return errors;
}

const GITLAB_HOOKS: Readonly<Record<string, string>> = {
  pipeline: "Pipeline Hook",
  job: "Job Hook",
  build: "Build Hook",
  deployment: "Deployment Hook",
};

/** Every event the normalizers produce from the copied real fixtures (handled ones only). */
function fixtureEvents(): { file: string; event: BuildEvent }[] {
  const out: { file: string; event: BuildEvent }[] = [];
  const collect = (file: string, result: NormalizeResult): void => {
    if (result.handled) for (const event of result.events) out.push({ file, event });
  };
  for (const file of readdirSync(join(FIXTURES, "github"))) {
    const payload: unknown = JSON.parse(readFileSync(join(FIXTURES, "github", file), "utf8"));
    collect(file, normalizeGithub({ event: file.split(".")[0]!, deliveryId: "d-1", payload }));
  }
  for (const file of readdirSync(join(FIXTURES, "gitlab"))) {
    const hook = GITLAB_HOOKS[file.split(".")[0]!];
    if (hook === undefined) continue;
    const payload: unknown = JSON.parse(readFileSync(join(FIXTURES, "gitlab", file), "utf8"));
    collect(file, normalizeGitlab({ event: hook, deliveryId: null, payload }));
  }
  return out;
}

const schema = buildEventJsonSchema();
const events = fixtureEvents();
const sample = events.find(({ event }) => event.data.kind === "job")!.event;

/** A deep copy of the sample with one change applied. */
function broken(
  change: (event: Record<string, unknown> & { data: Record<string, unknown> }) => void,
): unknown {
  const copy = structuredClone(sample) as unknown as Record<string, unknown> & {
    data: Record<string, unknown>;
  };
  change(copy);
  return copy;
}

describe("generated docs", () => {
  it(`${SCHEMA_PATH} and ${EVENTS_DOC_PATH} match what the code generates`, async () => {
    const expected = await generateDocs(ROOT);
    const stale = `is out of date with src/events/schema.ts or the status tables: run \`${REGENERATE_COMMAND}\` and commit the result`;
    assert.equal(readFileSync(join(ROOT, SCHEMA_PATH), "utf8"), expected.schema, `${SCHEMA_PATH} ${stale}`);
    assert.equal(
      readFileSync(join(ROOT, EVENTS_DOC_PATH), "utf8"),
      expected.eventsDoc,
      `${EVENTS_DOC_PATH} ${stale}`,
    );
  });

  it("events.md shows every row of every status table", () => {
    const doc = readFileSync(join(ROOT, EVENTS_DOC_PATH), "utf8");
    const row = (...cells: string[]): RegExp =>
      new RegExp(`^\\|\\s*${cells.map((cell) => `\`${cell}\``).join("\\s*\\|\\s*")}\\s*\\|`, "m");
    for (const table of [GITHUB_COMMIT_STATE_TABLE, GITHUB_DEPLOYMENT_STATE_TABLE, GITLAB_STATUS_TABLE]) {
      for (const [raw, { phase, status }] of Object.entries(table))
        assert.match(doc, row(raw, phase, status));
    }
    for (const [raw, { phase, status }] of Object.entries(GITHUB_STATUS_TABLE)) {
      assert.match(doc, status === null ? row(raw, phase) : row(raw, phase, status));
    }
    for (const [raw, status] of Object.entries(GITHUB_CONCLUSION_TABLE)) {
      assert.match(doc, row(raw, "finished", status));
    }
  });

  it("refuses a document that lost a generated section's markers", () => {
    assert.throws(() => spliceSections("# no markers\n", { "gitlab-status": "x" }), /gitlab-status/);
  });

  it("the schema file is pretty-printed JSON with a trailing newline", () => {
    const text = readFileSync(join(ROOT, SCHEMA_PATH), "utf8");
    assert.ok(text.endsWith("}\n"));
    assert.equal(text, `${JSON.stringify(JSON.parse(text), null, 2)}\n`);
  });
});

describe("the JSON Schema", () => {
  it("is identified by the URI every event carries in dataschema", () => {
    assert.equal(schema["$id"], DATA_SCHEMA_URI);
    assert.equal(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert.equal(schema["title"], BUILD_EVENT_SCHEMA_TITLE);
    assert.equal(sample.dataschema, schema["$id"]);
  });

  it("accepts every event the normalizers make from real fixtures", () => {
    assert.ok(events.length >= 50, `only ${events.length} fixture events`);
    for (const { file, event } of events) assert.deepEqual(validate(schema, event), [], file);
    const kinds = new Set(events.map(({ event }) => `${event.data.provider}/${event.data.kind}`));
    assert.equal(kinds.size, 6, [...kinds].join(", "));
  });

  it("accepts the traceparent extension and fields added later within v1", () => {
    const later = broken((event) => {
      event["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      event["newextension"] = "x";
      event.data["queuedDurationMs"] = 1200;
    });
    assert.deepEqual(validate(schema, later), []);
    assert.doesNotThrow(() => parseBuildEvent(later));
  });

  const breakages: [string, Parameters<typeof broken>[0], RegExp][] = [
    ["a missing data.run", (e) => delete e.data["run"], /\$\.data: missing run/],
    ["a missing id", (e) => delete e["id"], /\$: missing id/],
    ["a status outside the enum", (e) => (e.data["status"] = "passed"), /\$\.data\.status: not in enum/],
    ["a kind outside the enum", (e) => (e.data["kind"] = "stage"), /\$\.data\.kind: not in enum/],
    ["an id that is not a content hash", (e) => (e["id"] = "abc"), /\$\.id: does not match/],
    [
      "attempt as a string",
      (e) => ((e.data["run"] as Record<string, unknown>)["attempt"] = "1"),
      /attempt: expected integer/,
    ],
    [
      "attempt 0",
      (e) => ((e.data["run"] as Record<string, unknown>)["attempt"] = 0),
      /attempt: below minimum/,
    ],
    [
      "an undefined commit author",
      (e) => ((e.data["commit"] as Record<string, unknown>)["author"] = "ada"),
      /author: matches no anyOf/,
    ],
    ["a time without an offset", (e) => (e["time"] = "2024-05-01 10:00"), /\$\.time: does not match/],
    ["a wrong specversion", (e) => (e["specversion"] = "0.3"), /specversion: expected 1\.0/],
    [
      "a type that does not match data",
      (e) => (e["type"] = "build.pipeline.finished.v1"),
      /\$\.type: expected build\.job\./,
    ],
    ["a malformed traceparent", (e) => (e["traceparent"] = "trace-me"), /traceparent: does not match/],
  ];
  for (const [what, change, message] of breakages) {
    it(`rejects ${what}, as the zod contract does`, () => {
      const event = broken(change);
      assert.match(validate(schema, event).join("\n"), message);
      assert.throws(() => parseBuildEvent(event));
    });
  }

  it("names the type of every subschema with properties, as Ajv's strict mode requires", () => {
    // Ajv, the usual JSON Schema validator in JavaScript, refuses such a schema in strict mode
    // ("strict mode: missing type "object" for keyword "properties"") and warns by default
    const untyped: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) node.forEach((item, index) => walk(item, `${path}/${index}`));
      if (typeof node !== "object" || node === null || Array.isArray(node)) return;
      const object = node as Schema;
      if ("properties" in object && object["type"] !== "object") untyped.push(path);
      for (const [key, child] of Object.entries(object)) {
        if (key === "properties") {
          for (const [name, property] of Object.entries(child as Schema))
            walk(property, `${path}/properties/${name}`);
        } else walk(child, `${path}/${key}`);
      }
    };
    walk(schema, "#");
    assert.deepEqual(untyped, []);
  });

  it("the checker refuses keywords it does not implement", () => {
    assert.throws(() => validate({ type: "array", items: {} }, []), /items/);
  });
});

describe("the field reference in events.md, against every fixture event", () => {
  const doc = readFileSync(join(ROOT, EVENTS_DOC_PATH), "utf8");
  /** the Meaning cell of a field's row in a generated field table */
  const meaning = (field: string): string => {
    const row = doc.split("\n").find((line) => line.startsWith(`| \`${field}\` `));
    assert.ok(row, `no row for ${field}`);
    return row.split("|").at(-2)!.trim();
  };

  it("says which queued events carry a startedAt (GitHub names one before a job or run starts)", () => {
    const queued = events.filter(
      ({ event }) => event.data.phase === "queued" && event.data.startedAt !== null,
    );
    assert.ok(queued.length >= 5, `only ${queued.length} queued events with a startedAt`);
    assert.deepEqual(new Set(queued.map(({ event }) => event.data.provider)), new Set(["github"]));
    assert.match(meaning("data.startedAt"), /GitHub names one for a queued/);
  });

  it("names the time an event carries when its payload names none", () => {
    const timeless = events.filter(({ event }) =>
      [event.data.updatedAt, event.data.finishedAt, event.data.startedAt, event.data.createdAt].every(
        (time) => time === null,
      ),
    );
    assert.ok(timeless.length > 0, "no fixture without times");
    for (const { event } of timeless) assert.match(meaning("time"), new RegExp(`\`${event.time}\``));
  });

  it("suggests only filters that a v2 published side by side (see Versioning) does not reach", () => {
    /** NATS subject matching: `*` is one token, `>` the rest */
    const matches = (filter: string, subject: string): boolean => {
      const [wanted, tokens] = [filter.split("."), subject.split(".")];
      return (
        wanted.every((token, index) =>
          token === ">" ? index < tokens.length : token === "*" || token === tokens[index],
        ) &&
        (wanted.at(-1) === ">" || wanted.length === tokens.length)
      );
    };
    const paragraph = doc.slice(
      doc.indexOf("Useful filters:"),
      doc.indexOf("\n\n", doc.indexOf("Useful filters:")),
    );
    const filters = [...paragraph.matchAll(/`(build\.[^`]*)`/g)].map((match) => match[1]!);
    assert.ok(filters.length >= 3, paragraph);
    for (const filter of filters) {
      assert.ok(
        matches(filter, "build.pipeline.finished.v1") || matches(filter, "build.job.started.v1"),
        filter,
      );
      assert.ok(!matches(filter, "build.pipeline.finished.v2"), `${filter} would deliver v2 events`);
    }
  });

  it("says what a GitHub status or conclusion in no table becomes, as the normalizer does", () => {
    const prose = doc
      .slice(doc.indexOf("<!-- END generated:github-deployment-state -->"), doc.indexOf("### GitLab"))
      .replaceAll(/\s+/g, " ");
    assert.deepEqual(checksOutcome("brand_new", null), { phase: "started", status: "unknown" });
    assert.match(prose, /in none of these tables maps to phase `started`, status `unknown`/);
    // GitHub added startup_failure and stale after the fact: a new conclusion still ends the run
    assert.deepEqual(checksOutcome("completed", "brand_new"), { phase: "finished", status: "unknown" });
    assert.match(prose, /`conclusion` is in none of them is `finished`, status `unknown`/);
    assert.deepEqual(checksOutcome("brand_new", "success"), { phase: "finished", status: "success" });
    assert.match(prose, /left empty or unknown next to a conclusion/);
  });

  it("names every durable consumer of buildcast's own, which a reader must not take or reuse", () => {
    const paragraph = doc.slice(
      doc.indexOf("Create your own durable consumer"),
      doc.indexOf("With the [nats CLI]"),
    );
    for (const consumer of OWN_CONSUMERS) assert.match(paragraph, new RegExp(`\`${consumer}\``));
  });

  it("gives the id rule a reader can recompute every fixture event's id from", () => {
    const rule = doc
      .slice(doc.indexOf("## The id rule"), doc.indexOf("## The run key"))
      .replaceAll(/\s+/g, " ");
    // what the numbered list names, in the encoding and with the fallback the rule states
    assert.match(rule, /SHA-256 over the UTF-8 of these values, joined with NUL bytes/);
    assert.match(rule, /the empty string when there is none/);
    for (const { file, event } of events) {
      const { data } = event;
      const entity = {
        pipeline: `run:${data.run.id}`,
        job: `job:${data.job?.id}`,
        deployment: `deployment:${data.deployment?.id}`,
      }[data.kind];
      const time = data.updatedAt ?? data.finishedAt ?? data.startedAt ?? data.createdAt ?? "";
      const values = [
        data.provider,
        data.kind,
        data.repository.id,
        entity,
        data.run.attempt,
        data.phase,
        data.status,
      ];
      const bytes = Buffer.from([...values, data.providerStatus, time].join("\u0000"), "utf8");
      assert.equal(createHash("sha256").update(bytes).digest("hex").slice(0, 40), event.id, file);
    }
  });
});

describe("CloudEvents attributes", () => {
  // RFC 3986 URI-reference: its characters, and a scheme that starts with a letter when there is one
  const URI_REFERENCE = /^(?:[A-Za-z][A-Za-z0-9+.-]*:)?[A-Za-z0-9\-._~!$&'()*+,;=:@/?#[\]%]*$/;
  /** a Build Hook from GitLab 8 that names its project only by its display name */
  const nameOnlyJob = (projectName: string): BuildEvent => {
    const payload = JSON.parse(
      readFileSync(join(FIXTURES, "gitlab/job.dxvcs2git-real.1.json"), "utf8"),
    ) as Record<string, unknown>;
    payload["project_name"] = projectName;
    payload["repository"] = { name: "app" };
    const result = normalizeGitlab({ event: "Build Hook", deliveryId: null, payload });
    assert.ok(result.handled);
    return result.events[0]!;
  };

  it("source is a URI-reference for every fixture event", () => {
    for (const { file, event } of events) assert.match(event.source, URI_REFERENCE, file);
  });

  it("source is a URI-reference for a project with no web URL whose name has spaces", () => {
    const event = nameOnlyJob("Acme Corp / Mobile App");
    assert.equal(event.data.repository.url, null);
    assert.equal(event.data.repository.fullName, "Acme Corp/Mobile App");
    assert.match(event.source, URI_REFERENCE);
    assert.equal(event.source, "gitlab:Acme%20Corp/Mobile%20App");
    assert.equal(decodeURIComponent(event.source), "gitlab:Acme Corp/Mobile App");
  });

  it("a name with a lone surrogate still gives a source", () => {
    assert.match(nameOnlyJob("Acme / app\ud800").source, URI_REFERENCE);
  });
});
