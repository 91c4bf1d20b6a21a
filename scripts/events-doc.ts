import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { format, resolveConfig } from "prettier";
import { UNKNOWN_TIME, parseBuildEvent } from "../src/events/build-event.ts";
import { buildEventJsonSchema, type JsonSchemaDocument } from "../src/events/json-schema.ts";
import type { BuildEvent, Status } from "../src/events/schema.ts";
import {
  GITHUB_COMMIT_STATE_TABLE,
  GITHUB_CONCLUSION_TABLE,
  GITHUB_DEPLOYMENT_STATE_TABLE,
  GITHUB_STATUS_TABLE,
} from "../src/normalize/github.ts";
import { GITLAB_STATUS_TABLE, normalizeGitlab } from "../src/normalize/gitlab.ts";

/**
 * Renders what docs/ derives from the code: the JSON Schema file, and the generated
 * sections of docs/events.md (mapping tables, field reference, example event). A section
 * sits between `<!-- BEGIN generated:NAME -->` and `<!-- END generated:NAME -->`; the prose
 * around it is written by hand and left alone.
 */

export const SCHEMA_PATH = "docs/build-event.v1.schema.json";
export const EVENTS_DOC_PATH = "docs/events.md";
export const EXAMPLE_FIXTURE = "test/fixtures/webhooks/gitlab/pipeline.nuecagram-real.failed.json";
export const REGENERATE_COMMAND = "npm run schema";

/** The W3C spec's own example: ingress adds a traceparent, the pure normalizer does not. */
const EXAMPLE_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const EXAMPLE_DELIVERY = "2d8e6a4c-5b1f-4c7e-9a40-3f0c2b7d9e15";

/** Meanings for fields whose zod schema carries no description (or a terse one). */
const FIELD_NOTES: Readonly<Record<string, string>> = {
  specversion: "CloudEvents version",
  id: "deterministic content hash, 40 hex digits; also the `Nats-Msg-Id` (see The id rule)",
  source:
    "the repository's web URL, or `<provider>:<fullName>` (percent-encoded where a URI needs it: `gitlab:Acme%20Corp/app`) when the provider sent none",
  time: `when the state occurred (the provider's update time); \`${UNKNOWN_TIME}\` when the payload names none`,
  datacontenttype: "always JSON",
  dataschema: "`urn:buildcast:schema:build-event:v1`, the `$id` of the JSON Schema",
  data: "the normalized build state, below",
  "data.provider": "same as the `provider` extension",
  "data.kind": "what the event is about: a whole run, one job of it, or a deployment",
  "data.phase": "where the entity is: waiting, running, or done",
  "data.repository": "the repository or GitLab project",
  "data.run": "the pipeline-level entity; all events with the same `subject` belong to one run",
  "data.job": "present when kind is `job`",
  "data.job.id": "the provider's job / check run id",
  "data.job.name": "job name as shown in the provider's UI",
  "data.job.url": "the job's page (logs)",
  "data.job.stage": "GitLab stage; null on GitHub",
  "data.job.runnerName": "the runner that picked the job up, when known",
  "data.job.allowFailure": "GitLab `allow_failure`: a failure here does not fail the pipeline",
  "data.deployment": "present when kind is `deployment`",
  "data.deployment.id": "the provider's deployment id",
  "data.deployment.environment": "environment name (production, staging, review/…)",
  "data.ref": "what was built",
  "data.ref.type": "branch or tag; null when the provider does not say (a bare sha)",
  "data.ref.sha": "the commit sha that was built",
  "data.commit": "the head commit of the build",
  "data.commit.sha": "same as `ref.sha`",
  "data.commit.author": "the commit's author; null when unknown",
  "data.actor": "who triggered the run; null when unknown",
  "data.createdAt": "when the provider created the entity",
  "data.startedAt":
    "when it started running; GitLab leaves it null while queued, GitHub names one for a queued job, check run or workflow run too (when it was queued, or its attempt began): tell whether it runs from `phase`",
  "data.finishedAt": "when it finished; null unless phase is `finished`",
  "data.durationMs": "run time in milliseconds, when the provider reports it",
};

const code = (value: string): string => `\`${value}\``;

function objectVariant(schema: JsonSchemaDocument): JsonSchemaDocument | undefined {
  if (schema["type"] === "object") return schema;
  const variants = (schema["anyOf"] ?? []) as JsonSchemaDocument[];
  return variants.find((variant) => variant["type"] === "object");
}

function typeOf(schema: JsonSchemaDocument): string {
  if (schema["const"] !== undefined) return code(JSON.stringify(schema["const"]));
  if (Array.isArray(schema["enum"]))
    return (schema["enum"] as unknown[]).map((v) => code(String(v))).join(", ");
  if (Array.isArray(schema["anyOf"])) {
    return (schema["anyOf"] as JsonSchemaDocument[]).map(typeOf).join(" or ");
  }
  const type = schema["type"];
  if (Array.isArray(type)) return type.join(" or ");
  if (type === "string" && schema["format"] === "date-time") return "string (RFC 3339 time)";
  return String(type);
}

interface FieldRow {
  readonly path: string;
  readonly type: string;
  readonly meaning: string;
}

function fieldRows(schema: JsonSchemaDocument, prefix: string, descend: boolean): FieldRow[] {
  const object = objectVariant(schema);
  const properties = (object?.["properties"] ?? {}) as Record<string, JsonSchemaDocument>;
  const required = new Set((object?.["required"] ?? []) as string[]);
  return Object.entries(properties).flatMap(([name, property]) => {
    const path = prefix === "" ? name : `${prefix}.${name}`;
    const meaning = FIELD_NOTES[path] ?? (property["description"] as string | undefined);
    // a field nobody explained fails generation, so the reference cannot fall behind the schema
    if (meaning === undefined)
      throw new Error(`no description for ${path}: add one in schema.ts or FIELD_NOTES`);
    const optional = required.has(name) ? "" : " (optional)";
    const row = { path: code(path), type: typeOf(property) + optional, meaning };
    const nested = descend && objectVariant(property) ? fieldRows(property, path, true) : [];
    return [row, ...nested];
  });
}

/** A pipe ends a table cell anywhere; `<` starts an HTML tag outside code spans. */
function escapeCell(text: string): string {
  return text
    .split("`")
    .map((part, index) => (index % 2 === 1 ? part : part.replaceAll("<", "&lt;").replaceAll(">", "&gt;")))
    .join("`")
    .replaceAll("|", "\\|");
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map(escapeCell).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function fieldsTable(rows: readonly FieldRow[]): string {
  return table(
    ["Field", "Type", "Meaning"],
    rows.map((row) => [row.path, row.type, row.meaning]),
  );
}

function outcomeTable(
  column: string,
  entries: Readonly<Record<string, { readonly phase: string; readonly status: Status | null }>>,
  nullStatus: string,
): string {
  return table(
    [column, "phase", "status"],
    Object.entries(entries).map(([raw, row]) => [
      code(raw),
      code(row.phase),
      row.status === null ? nullStatus : code(row.status),
    ]),
  );
}

/** The example event: a real fixture through the real normalizer, plus what ingress adds. */
export function exampleEvent(payload: unknown): BuildEvent {
  const result = normalizeGitlab({ event: "Pipeline Hook", deliveryId: EXAMPLE_DELIVERY, payload });
  // the pipeline's own event comes last, after the job events of its finished builds
  const own = result.handled ? result.events.at(-1) : undefined;
  if (own === undefined) throw new Error("example fixture produced no event");
  return parseBuildEvent({ ...own, traceparent: EXAMPLE_TRACEPARENT });
}

export function generatedSections(example: BuildEvent): Record<string, string> {
  const schema = buildEventJsonSchema();
  const properties = schema["properties"] as Record<string, JsonSchemaDocument>;
  const { data, ...envelope } = properties;
  if (data === undefined) throw new Error("the JSON Schema has no data property");
  return {
    "envelope-fields": fieldsTable(
      fieldRows({ type: "object", properties: envelope, required: schema["required"] }, "", false),
    ),
    "data-fields": fieldsTable(fieldRows(data, "data", true)),
    "github-status": outcomeTable("GitHub `status`", GITHUB_STATUS_TABLE, "from `conclusion`, next table"),
    "github-conclusion": table(
      ["GitHub `conclusion`", "phase", "status"],
      Object.entries(GITHUB_CONCLUSION_TABLE).map(([raw, status]) => [
        code(raw),
        code("finished"),
        code(status),
      ]),
    ),
    "github-commit-state": outcomeTable("commit status `state`", GITHUB_COMMIT_STATE_TABLE, ""),
    "github-deployment-state": outcomeTable("deployment status `state`", GITHUB_DEPLOYMENT_STATE_TABLE, ""),
    "gitlab-status": outcomeTable("GitLab `status`", GITLAB_STATUS_TABLE, ""),
    "example-event": ["```json", JSON.stringify(example, null, 2), "```"].join("\n"),
  };
}

/** Replaces the body of every generated section; a section missing from the document is an error. */
export function spliceSections(markdown: string, sections: Readonly<Record<string, string>>): string {
  let result = markdown;
  for (const [name, body] of Object.entries(sections)) {
    const begin = `<!-- BEGIN generated:${name} -->`;
    const end = `<!-- END generated:${name} -->`;
    const start = result.indexOf(begin);
    const stop = result.indexOf(end);
    if (start < 0 || stop < start)
      throw new Error(`${EVENTS_DOC_PATH} lacks the markers for section ${name}`);
    result = `${result.slice(0, start + begin.length)}\n\n${body}\n\n${result.slice(stop)}`;
  }
  return result;
}

export function renderSchemaFile(): string {
  return `${JSON.stringify(buildEventJsonSchema(), null, 2)}\n`;
}

export interface GeneratedDocs {
  readonly schema: string;
  readonly eventsDoc: string;
}

/** What docs/ should hold, computed from the code, the fixture and the hand-written prose. */
export async function generateDocs(root: string): Promise<GeneratedDocs> {
  const docPath = join(root, EVENTS_DOC_PATH);
  const [markdown, fixture] = await Promise.all([
    readFile(docPath, "utf8"),
    readFile(join(root, EXAMPLE_FIXTURE), "utf8"),
  ]);
  const spliced = spliceSections(markdown, generatedSections(exampleEvent(JSON.parse(fixture))));
  // prettier (the repo's own config) owns table alignment, so `prettier --check` agrees with the generator
  const options = await resolveConfig(docPath);
  const eventsDoc = await format(spliced, { ...options, filepath: docPath });
  return { schema: renderSchemaFile(), eventsDoc };
}
