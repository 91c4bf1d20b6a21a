import { eventId, runKey } from "./ids.ts";
import { DATA_SCHEMA_URI, buildEventSchema, type BuildEvent, type BuildEventData } from "./schema.ts";
import { eventType } from "./subjects.ts";

/**
 * `time` of a state whose payload names no time at all (a pending job's hook from GitLab 8):
 * CloudEvents would have it left out, but v1 requires it, and a pure normalizer has no clock.
 */
export const UNKNOWN_TIME = "1970-01-01T00:00:00Z";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * `source` when the provider sent no web URL: `<provider>:<fullName>`, each path segment
 * percent-encoded, since CloudEvents requires a URI-reference and a GitLab project known only
 * by its display name ("Acme Corp / Mobile App") has spaces. Usual paths are left as they are.
 */
function fallbackSource(data: BuildEventData): string {
  const path = data.repository.fullName
    .replace(LONE_SURROGATE, "\uFFFD")
    .split("/")
    .map(encodeURIComponent)
    .join("/");
  return `${data.provider}:${path}`;
}

/** Wraps normalized data in its CloudEvents envelope. Pure: the time is the provider's. */
export function toBuildEvent(data: BuildEventData, deliveryId: string | null): BuildEvent {
  return {
    specversion: "1.0",
    id: eventId(data),
    source: data.repository.url ?? fallbackSource(data),
    type: eventType(data.kind, data.phase),
    subject: runKey(data),
    time: data.updatedAt ?? data.finishedAt ?? data.startedAt ?? data.createdAt ?? UNKNOWN_TIME,
    datacontenttype: "application/json",
    dataschema: DATA_SCHEMA_URI,
    provider: data.provider,
    deliveryid: deliveryId ?? "",
    data,
  };
}

export class EventValidationError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`build event failed validation: ${issues.join("; ")}`);
    this.name = "EventValidationError";
    this.issues = issues;
  }
}

/** Validates an event against the v1 schema (producer and consumer both call this). */
export function parseBuildEvent(value: unknown): BuildEvent {
  const result = buildEventSchema.safeParse(value);
  if (!result.success) {
    throw new EventValidationError(
      result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`),
    );
  }
  return result.data;
}
