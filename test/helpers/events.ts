import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { toBuildEvent } from "../../src/events/build-event.ts";
import type { BuildEvent, BuildEventData, Kind, Phase, Provider, Status } from "../../src/events/schema.ts";

/** Deep-partial overrides for one event's data; nested objects merge, everything else replaces. */
export interface EventSpec {
  readonly provider?: Provider;
  readonly kind?: Kind;
  readonly phase?: Phase;
  readonly status?: Status;
  readonly repository?: string;
  readonly repositoryId?: string;
  readonly branch?: string | null;
  /** the ref's kind; "branch" unless `branch` is null */
  readonly refType?: "branch" | "tag" | null;
  readonly pipeline?: string;
  readonly runId?: string;
  readonly runNumber?: number | null;
  readonly attempt?: number;
  readonly job?: {
    id: string;
    name: string;
    stage?: string | null;
    allowFailure?: boolean;
    url?: string | null;
    /** GitHub Actions jobs (workflow_job events) */
    retriedByAttempt?: boolean;
  };
  /** the commit built; by default each run id has a commit of its own, all shortened to 0123456 */
  readonly sha?: string;
  readonly title?: string | null;
  readonly author?: string | null;
  /** provider update time for this state */
  readonly at?: string;
  readonly createdAt?: string | null;
  readonly startedAt?: string | null;
  readonly finishedAt?: string | null;
  readonly durationMs?: number | null;
}

const PHASE_OF: Record<Status, Phase> = {
  queued: "queued",
  running: "started",
  manual: "started",
  action_required: "started",
  success: "finished",
  failure: "finished",
  canceled: "finished",
  skipped: "finished",
  timed_out: "finished",
  neutral: "finished",
  unknown: "finished",
};

/** A valid v1 build event with sensible defaults: a GitHub pipeline run on acme/api main. */
export function buildEvent(spec: EventSpec = {}): BuildEvent {
  const provider = spec.provider ?? "github";
  const status = spec.status ?? "success";
  const phase = spec.phase ?? PHASE_OF[status];
  const kind = spec.kind ?? (spec.job ? "job" : "pipeline");
  const repository = spec.repository ?? "acme/api";
  const runId = spec.runId ?? "1001";
  const at = spec.at ?? "2024-05-01T10:00:00Z";
  const sha = spec.sha ?? `0123456${createHash("sha1").update(runId).digest("hex").slice(0, 33)}`;
  const web = provider === "github" ? "https://github.com" : "https://gitlab.example.com";
  const data: BuildEventData = {
    provider,
    kind,
    phase,
    status,
    providerStatus: status,
    repository: {
      id: spec.repositoryId ?? `id-${repository}`,
      fullName: repository,
      url: `${web}/${repository}`,
    },
    run: {
      id: runId,
      name: spec.pipeline ?? "CI",
      number: spec.runNumber === undefined ? Number.parseInt(runId, 10) || null : spec.runNumber,
      attempt: spec.attempt ?? 1,
      url: `${web}/${repository}/actions/runs/${runId}`,
      trigger: "push",
    },
    ...(kind === "job" && spec.job
      ? {
          job: {
            id: spec.job.id,
            name: spec.job.name,
            url: spec.job.url === undefined ? `${web}/${repository}/jobs/${spec.job.id}` : spec.job.url,
            stage: spec.job.stage ?? null,
            runnerName: null,
            allowFailure: spec.job.allowFailure ?? false,
            ...(spec.job.retriedByAttempt === undefined
              ? {}
              : { retriedByAttempt: spec.job.retriedByAttempt }),
          },
        }
      : {}),
    ref: {
      name: spec.branch === undefined ? "main" : spec.branch,
      type: spec.refType !== undefined ? spec.refType : spec.branch === null ? null : "branch",
      sha,
      pullRequest: null,
    },
    commit: {
      sha,
      title: spec.title === undefined ? "Fix the flaky test" : spec.title,
      url: `${web}/${repository}/commit/${sha}`,
      author:
        spec.author === null
          ? null
          : { name: spec.author ?? "Ada Lovelace", email: "ada@example.com", username: "ada" },
    },
    actor: { name: "Ada Lovelace", email: null, username: "ada" },
    createdAt: spec.createdAt === undefined ? "2024-05-01T09:59:00Z" : spec.createdAt,
    startedAt:
      spec.startedAt === undefined ? (phase === "queued" ? null : "2024-05-01T10:00:00Z") : spec.startedAt,
    finishedAt: spec.finishedAt === undefined ? (phase === "finished" ? at : null) : spec.finishedAt,
    updatedAt: at,
    durationMs: spec.durationMs === undefined ? null : spec.durationMs,
  };
  return toBuildEvent(data, `delivery-${runId}`);
}

/** Publishes like ingress does: subject = type, Nats-Msg-Id = event id. */
export async function publishEvent(js: JetStreamClient, event: BuildEvent): Promise<{ duplicate: boolean }> {
  const ack = await js.publish(event.type, JSON.stringify(event), { msgID: event.id });
  return { duplicate: ack.duplicate };
}

/**
 * Run `n` of a repository as the notify tests write it: run id `firstId + n`, run number n,
 * created at minute n past 10:00 on 2024-05-01, its state at :10 of that minute while
 * running and at :50 otherwise (so later runs, and a run's finish, always come later).
 */
export function minuteRun(
  repository: string,
  n: number,
  status: NonNullable<EventSpec["status"]>,
  extra: EventSpec = {},
  firstId = 100,
): BuildEvent {
  const minute = String(n).padStart(2, "0");
  return buildEvent({
    repository,
    runId: String(firstId + n),
    runNumber: n,
    status,
    createdAt: `2024-05-01T10:${minute}:00Z`,
    at: `2024-05-01T10:${minute}:${status === "running" ? "10" : "50"}Z`,
    ...extra,
  });
}

/** Publishes events one after the other, each acked before the next goes. */
export async function publishEvents(js: JetStreamClient, ...events: BuildEvent[]): Promise<void> {
  for (const event of events) await publishEvent(js, event);
}
