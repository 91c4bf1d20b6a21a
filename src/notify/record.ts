import type { Transition } from "../config/schema.ts";
import { stateProgressRank } from "../events/progress.ts";
import type { BuildEventData, Status } from "../events/schema.ts";
import { outcomeOf } from "./entity.ts";

/** A job of a run as its latest event described it. */
export interface JobLine {
  readonly id: string;
  readonly name: string;
  readonly status: Status;
  readonly url: string | null;
  readonly attempt: number;
  readonly allowFailure: boolean;
  readonly rank: StateRank;
  /** absent in records written before they were kept */
  readonly stage?: string | null;
  /** when this try started (else was created): a retried GitLab job is a newer try under a new id */
  readonly startedMs?: number | null;
  /**
   * GitHub Actions: retried only as a new attempt, so never a try of another job of its name
   * (absent in records written before it was kept, and for other jobs)
   */
  readonly retriedByAttempt?: boolean;
}

export interface SlackTarget {
  readonly route: string;
  readonly mentionAuthor: boolean;
  readonly threadFailures: boolean;
}

export interface NoticeMark {
  readonly transition: Transition;
  readonly attempt: number;
  readonly noticeId: string;
  /**
   * The provider's time of the state that decided it: a run retried in place finishes again
   * under the same attempt, and the later finish is the notice to show (absent in records
   * written before it was kept).
   */
  readonly at?: number | null;
}

/**
 * A commit author's username that a job event of the run (or of the job itself) named:
 * GitLab's job hooks link the author's profile, its pipeline hooks name the author only by
 * name and a redacted e-mail.
 */
export interface JobAuthor {
  readonly sha: string;
  readonly name: string | null;
  readonly username: string;
}

/**
 * What a channel knows about one entity (usually a run): its latest state, its jobs, the
 * last notice decided for it and the Slack channels that carry a message about it. Kept in
 * KV per channel; the delivery jobs render from it at send time.
 */
export interface EntityRecord {
  readonly version: 1;
  readonly key: string;
  readonly data: BuildEventData | null;
  readonly jobs: Readonly<Record<string, JobLine>>;
  readonly notice: NoticeMark | null;
  readonly targets: Readonly<Record<string, SlackTarget>>;
  /** absent in records written before it was kept */
  readonly jobAuthor?: JobAuthor | null;
}

/** States only move forward: a higher attempt, then a later phase (see stateProgressRank), then a later update time. */
export type StateRank = readonly [attempt: number, phase: number, updatedMs: number];

export function stateRank(data: BuildEventData): StateRank {
  const time = data.updatedAt ?? data.finishedAt ?? data.startedAt ?? data.createdAt;
  return [data.run.attempt, stateProgressRank(data), time === null ? 0 : Date.parse(time)];
}

export function compareRank(a: StateRank, b: StateRank): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export const MAX_JOB_LINES = 1000;
/** a StateRank's progress once its job finished (see stateProgressRank) */
const FINISHED_PROGRESS = 2;

export interface RecordChange {
  /** a newer state of the record's own entity */
  readonly data?: BuildEventData;
  /** a job event of the record's run */
  readonly job?: BuildEventData;
  readonly notice?: NoticeMark;
  readonly targets?: Readonly<Record<string, SlackTarget>>;
}

function withJob(
  jobs: Readonly<Record<string, JobLine>>,
  data: BuildEventData,
): Record<string, JobLine> | null {
  if (!data.job) return null;
  const rank = stateRank(data);
  const current = jobs[data.job.id];
  if (current && compareRank(rank, current.rank) <= 0) return null;
  const next: Record<string, JobLine> = {
    ...jobs,
    [data.job.id]: {
      id: data.job.id,
      name: data.job.name,
      status: data.status,
      url: data.job.url,
      attempt: data.run.attempt,
      allowFailure: data.job.allowFailure,
      rank,
      stage: data.job.stage,
      startedMs: timeMs(data.startedAt ?? data.createdAt),
      ...(data.job.retriedByAttempt === true ? { retriedByAttempt: true } : {}),
    },
  };
  const ids = Object.keys(next);
  if (ids.length <= MAX_JOB_LINES) return next;
  // A run with thousands of jobs: forget passing ones first, then those still waiting or
  // running, failures last, for they are what we show. A KV value is at most NATS's
  // max_payload (1 MB): 2,600 pending GitLab jobs of 190-character names were more, and every
  // event of the run that would add a line was refused until it was dead-lettered.
  const order = (line: JobLine | undefined): number => {
    if (line === undefined || line.status === "success") return 0;
    if (line.rank[1] < FINISHED_PROGRESS) return 1;
    return outcomeOf(line.status) === "failure" ? 3 : 2;
  };
  const drop = ids
    .map((id, index) => ({ id, index, order: order(next[id]) }))
    .sort((a, b) => a.order - b.order || a.index - b.index)
    .slice(0, ids.length - MAX_JOB_LINES);
  for (const { id } of drop) delete next[id];
  return next;
}

const timeMs = (time: string | null): number | null => {
  const ms = time === null ? Number.NaN : Date.parse(time);
  return Number.isFinite(ms) ? ms : null;
};

/**
 * A later attempt outranks an earlier one, a run's finish outranks its start, and a run
 * retried in place (same attempt, finished again) shows its later finish. Late events never
 * win: they replay the decision already recorded, which is the notice already here.
 */
function outranks(next: NoticeMark, current: NoticeMark): boolean {
  if (next.noticeId === current.noticeId) return false;
  const finished = (notice: NoticeMark): number => (notice.transition === "started" ? 0 : 1);
  const order =
    next.attempt - current.attempt ||
    finished(next) - finished(current) ||
    (next.at ?? 0) - (current.at ?? 0);
  return order > 0;
}

/** Applies a change; `changed` is false when nothing new was learnt (a duplicate). */
export function applyToRecord(
  current: EntityRecord | null,
  key: string,
  change: RecordChange,
): { record: EntityRecord; changed: boolean } {
  let record: EntityRecord = current ?? { version: 1, key, data: null, jobs: {}, notice: null, targets: {} };
  let changed = current === null;
  if (
    change.data &&
    (record.data === null || compareRank(stateRank(change.data), stateRank(record.data)) > 0)
  ) {
    record = { ...record, data: change.data };
    changed = true;
  }
  if (change.job) {
    const jobs = withJob(record.jobs, change.job);
    if (jobs) {
      record = { ...record, jobs };
      changed = true;
    }
  }
  // a job's own record learns it too: its final state may be the one its pipeline's hook
  // told (same event id, no author link), stored in place of its own job hook's
  const authored = change.job ?? (change.data?.kind === "job" ? change.data : undefined);
  if (authored) {
    const author = authored.commit.author;
    const known = record.jobAuthor;
    if (author?.username && (known?.username !== author.username || known.sha !== authored.commit.sha)) {
      const jobAuthor = { sha: authored.commit.sha, name: author.name, username: author.username };
      record = { ...record, jobAuthor };
      changed = true;
    }
  }
  const notice = change.notice;
  const takesNotice = notice !== undefined && (record.notice === null || outranks(notice, record.notice));
  if (takesNotice) {
    record = { ...record, notice };
    changed = true;
  }
  // A notice the record already has (or a newer one) is a replayed decision: its channels were
  // given when it was new. Routes added since must not get a message about it (a replay after
  // a config change posted an older run's success after its successor's failure); a redelivery
  // after a crash before the record was written still finds the notice new here.
  if (notice !== undefined && !takesNotice) return { record, changed };
  for (const [channel, target] of Object.entries(change.targets ?? {})) {
    if (record.targets[channel]) continue;
    record = { ...record, targets: { ...record.targets, [channel]: target } };
    changed = true;
  }
  return { record, changed };
}
