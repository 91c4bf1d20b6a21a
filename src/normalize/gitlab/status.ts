import type { Phase, Status } from "../../events/schema.ts";

export interface PhaseAndStatus {
  readonly phase: Phase;
  readonly status: Status;
}

/**
 * GitLab pipeline, job and deployment statuses → buildcast phase and status. Exported so
 * docs/events.md can render it. Decisions worth knowing:
 * - `manual` is a pipeline or job waiting for a person to press play: phase queued, status
 *   manual (not finished; it may still run).
 * - `blocked` (a deployment waiting for approval) is queued / action_required.
 * - `canceling` is already final from the user's point of view: finished / canceled.
 * - `detailed_status` is ignored ("passed with warnings" is success), but for a pipeline's
 *   "canceled" next to status "failed": GitLab sends it while a cancel is under way, and the
 *   pipeline normalizer reads it as canceled.
 * - A status not in this table maps to status unknown; see {@link gitlabPhaseAndStatus}
 *   for its phase.
 */
export const GITLAB_STATUS_TABLE: Readonly<Record<string, PhaseAndStatus>> = Object.freeze({
  created: { phase: "queued", status: "queued" },
  waiting_for_resource: { phase: "queued", status: "queued" },
  waiting_for_callback: { phase: "queued", status: "queued" },
  preparing: { phase: "queued", status: "queued" },
  pending: { phase: "queued", status: "queued" },
  scheduled: { phase: "queued", status: "queued" },
  manual: { phase: "queued", status: "manual" },
  blocked: { phase: "queued", status: "action_required" },
  running: { phase: "started", status: "running" },
  success: { phase: "finished", status: "success" },
  failed: { phase: "finished", status: "failure" },
  canceled: { phase: "finished", status: "canceled" },
  canceling: { phase: "finished", status: "canceled" },
  skipped: { phase: "finished", status: "skipped" },
});

/** What the payload's own times say about how far an entity got. */
export interface TimesSeen {
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/**
 * Maps a raw GitLab status. An unknown status (a newer GitLab, or a tool that invents
 * "failure") keeps status unknown, and its phase comes from the times the payload carries:
 * finished when it names a finish time, started when it names a start time, else queued.
 */
export function gitlabPhaseAndStatus(raw: string, times: TimesSeen): PhaseAndStatus {
  // hasOwn: the raw status is untrusted input and must not reach Object.prototype ("constructor").
  const known = Object.hasOwn(GITLAB_STATUS_TABLE, raw) ? GITLAB_STATUS_TABLE[raw] : undefined;
  if (known) return known;
  const phase: Phase = times.finishedAt ? "finished" : times.startedAt ? "started" : "queued";
  return { phase, status: "unknown" };
}
