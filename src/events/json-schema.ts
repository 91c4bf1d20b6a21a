import { z } from "zod";
import { DATA_SCHEMA_URI, KINDS, PHASES, buildEventSchema } from "./schema.ts";
import { eventType } from "./subjects.ts";

export const BUILD_EVENT_SCHEMA_TITLE = "buildcast build event, v1";

/** A JSON Schema document: plain JSON, so it can be written to disk and compared as text. */
export type JsonSchemaDocument = Record<string, unknown>;

/**
 * `type` must name the data's kind and phase. zod checks this in a superRefine, which has no
 * JSON Schema form, so the rule is spelled out as one if/then per (kind, phase) pair.
 */
function typeMatchesData(): JsonSchemaDocument[] {
  return KINDS.flatMap((kind) =>
    PHASES.map((phase) => ({
      // every "properties" says its type: Ajv's strict mode refuses a schema where one does not
      if: {
        type: "object",
        properties: {
          data: { type: "object", properties: { kind: { const: kind }, phase: { const: phase } } },
        },
        required: ["data"],
      },
      then: { type: "object", properties: { type: { const: eventType(kind, phase) } } },
    })),
  );
}

/**
 * The v1 build event as JSON Schema (draft 2020-12), generated from the zod contract; its
 * `$id` is the URI every event carries in `dataschema`.
 *
 * io "input": zod's output view marks every object `additionalProperties: false`, which would
 * make consumers that validate with this schema reject fields added later within v1. The
 * contract itself (a non-strict z.object) accepts and strips unknown keys, and so does this.
 */
export function buildEventJsonSchema(): JsonSchemaDocument {
  const generated = z.toJSONSchema(buildEventSchema, {
    target: "draft-2020-12",
    io: "input",
    reused: "inline",
    unrepresentable: "throw",
  }) as JsonSchemaDocument;
  const { $schema, description, ...body } = generated;
  return {
    $schema,
    $id: DATA_SCHEMA_URI,
    title: BUILD_EVENT_SCHEMA_TITLE,
    description,
    ...body,
    allOf: typeMatchesData(),
  };
}
