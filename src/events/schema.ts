import { z } from "zod";

/**
 * The build event contract, v1. This file is the single source of truth: the producer
 * (ingress) and every consumer validate against it, and docs/build-event.v1.schema.json is
 * generated from it. Within v1, fields may only be added (optional), never renamed or retyped.
 */

export const PROVIDERS = ["github", "gitlab"] as const;
export const KINDS = ["pipeline", "job", "deployment"] as const;
export const PHASES = ["queued", "started", "finished"] as const;
export const STATUSES = [
  "queued",
  "running",
  "success",
  "failure",
  "canceled",
  "skipped",
  "timed_out",
  "action_required",
  "neutral",
  "manual",
  "unknown",
] as const;

export type Provider = (typeof PROVIDERS)[number];
export type Kind = (typeof KINDS)[number];
export type Phase = (typeof PHASES)[number];
export type Status = (typeof STATUSES)[number];

const isoTime = z.iso.datetime({ offset: true });
const nullableString = z.string().nullable();
const nullableUrl = z
  .string()
  .nullable()
  .describe("an http(s) URL, or null when the provider sent none or another kind");

export const personSchema = z
  .object({
    name: nullableString.describe("display name"),
    email: nullableString.describe("e-mail address; null when absent or redacted (GitLab sends [REDACTED])"),
    username: nullableString.describe("login on the provider"),
  })
  .describe("a person as the provider named them");

export const buildEventDataSchema = z
  .object({
    provider: z.enum(PROVIDERS),
    kind: z.enum(KINDS),
    phase: z.enum(PHASES),
    status: z.enum(STATUSES).describe("normalized status; see the mapping tables in docs/events.md"),
    providerStatus: z.string().describe("the raw status/conclusion as the provider sent it"),
    repository: z.object({
      id: z.string().describe("the provider's repository/project id, as a string"),
      fullName: z.string().min(1).describe("owner/name; GitLab paths may have nested groups (a/b/c)"),
      url: nullableUrl,
    }),
    run: z.object({
      id: z.string().describe("the pipeline-level entity id (workflow run, check suite, pipeline…)"),
      name: z.string().describe("pipeline/workflow name; routes match on it"),
      number: z.number().int().nullable().describe("the run number shown to users, when there is one"),
      attempt: z.number().int().min(1).describe("re-run attempt, starting at 1"),
      url: nullableUrl,
      trigger: nullableString.describe("what started the run (push, pull_request, schedule, web…)"),
      workflowId: z
        .string()
        .optional()
        .describe("GitHub Actions: the workflow's id, the same for all its runs, across renames"),
      latestWins: z
        .boolean()
        .optional()
        .describe("commit statuses: the newest state by update time wins, even an earlier phase"),
    }),
    job: z
      .object({
        id: z.string(),
        name: z.string(),
        url: nullableUrl,
        stage: nullableString,
        runnerName: nullableString,
        allowFailure: z.boolean(),
        retriedByAttempt: z
          .boolean()
          .optional()
          .describe(
            "GitHub Actions: a job is retried only as a new run.attempt, so every job id of an attempt is a job of its own, even when two share a name",
          ),
      })
      .optional()
      .describe("present when kind is job"),
    deployment: z
      .object({
        id: z.string(),
        environment: z.string(),
        url: nullableUrl.describe("the deployed environment's URL"),
      })
      .optional()
      .describe("present when kind is deployment"),
    ref: z.object({
      name: nullableString.describe("branch or tag name without refs/heads/ or refs/tags/"),
      type: z.enum(["branch", "tag"]).nullable(),
      sha: z.string(),
      pullRequest: z.number().int().nullable().describe("pull/merge request number, when the run is for one"),
    }),
    commit: z.object({
      sha: z.string(),
      title: nullableString.describe("first line of the commit message"),
      url: nullableUrl,
      author: personSchema.nullable(),
    }),
    actor: personSchema.nullable().describe("who triggered the run"),
    createdAt: isoTime.nullable(),
    startedAt: isoTime.nullable(),
    finishedAt: isoTime.nullable(),
    updatedAt: isoTime.nullable().describe("the provider's own update time for this state"),
    durationMs: z.number().int().min(0).nullable(),
  })
  .describe("buildcast build event data, v1");

export type BuildEventData = z.infer<typeof buildEventDataSchema>;

export const TYPE_PATTERN = /^build\.(pipeline|job|deployment)\.(queued|started|finished)\.v1$/;

export const buildEventSchema = z
  .object({
    specversion: z.literal("1.0"),
    id: z.string().regex(/^[0-9a-f]{40}$/, "a 40-hex-digit content hash"),
    source: z.string().min(1).describe("URI of the repository the event is about"),
    type: z.string().regex(TYPE_PATTERN).describe("build.<kind>.<phase>.v1; also the NATS subject"),
    subject: z.string().min(1).describe("the run key: <provider>/<repository id>/<run id>"),
    time: isoTime.describe("when the state occurred (the provider's update time)"),
    datacontenttype: z.literal("application/json"),
    dataschema: z.string(),
    provider: z.enum(PROVIDERS).describe("CloudEvents extension: github | gitlab"),
    deliveryid: z.string().describe("CloudEvents extension: the provider's delivery header, '' when none"),
    traceparent: z
      .string()
      .regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
      .optional()
      .describe("CloudEvents extension (distributed tracing): W3C trace context created at ingress"),
    data: buildEventDataSchema,
  })
  .superRefine((event, ctx) => {
    const expected = `build.${event.data.kind}.${event.data.phase}.v1`;
    if (event.type !== expected) {
      ctx.addIssue({ code: "custom", path: ["type"], message: `type must be ${expected} for this data` });
    }
  })
  .describe("A buildcast build event: a CloudEvents 1.0 structured-mode JSON document");

export type BuildEvent = z.infer<typeof buildEventSchema>;

export const DATA_SCHEMA_URI = "urn:buildcast:schema:build-event:v1";
