import { stateProgressRank } from "../events/progress.ts";
import type { BuildEvent, BuildEventData, Status } from "../events/schema.ts";
import type {
  DeploymentState,
  EarlierJob,
  JobState,
  Mark,
  PipelineHead,
  RunContext,
  RunState,
  StoredPerson,
} from "./model.ts";

/** Only breaks ties between events of the same phase and time; failure wins so nothing hides it. */
const STATUS_TIE_ORDER: readonly Status[] = [
  "unknown",
  "queued",
  "running",
  "manual",
  "action_required",
  "skipped",
  "neutral",
  "success",
  "canceled",
  "timed_out",
  "failure",
];

const millis = (time: string): number => {
  const value = Date.parse(time);
  return Number.isNaN(value) ? 0 : value;
};

/** The earliest of some ISO times (of any offset), or null when there are none. */
export const earliest = (values: readonly (string | null)[]): string | null =>
  values.reduce<string | null>(
    (min, v) => (v !== null && (min === null || Date.parse(v) < Date.parse(min)) ? v : min),
    null,
  );

/** A total order on marks: > 0 when `a` is further along than `b`. */
export function compareMarks(a: Mark, b: Mark): number {
  return (
    a.rank - b.rank ||
    millis(a.time) - millis(b.time) ||
    STATUS_TIE_ORDER.indexOf(a.status) - STATUS_TIE_ORDER.indexOf(b.status) ||
    (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0)
  );
}

export function markOf(event: BuildEvent): Mark {
  return {
    rank: stateProgressRank(event.data),
    time: event.time,
    status: event.data.status,
    eventId: event.id,
  };
}

const person = (p: BuildEvent["data"]["actor"]): StoredPerson | null =>
  p === null ? null : { name: p.name, email: p.email, username: p.username };

function contextOf(event: BuildEvent, mark: Mark): RunContext {
  const { data } = event;
  return {
    mark,
    fromPipeline: data.kind === "pipeline",
    repository: { id: data.repository.id, fullName: data.repository.fullName, url: data.repository.url },
    name: data.run.name,
    number: data.run.number,
    url: data.run.url,
    trigger: data.run.trigger,
    ...(data.run.workflowId === undefined ? {} : { workflowId: data.run.workflowId }),
    ref: { name: data.ref.name, type: data.ref.type, sha: data.ref.sha, pullRequest: data.ref.pullRequest },
    commit: {
      sha: data.commit.sha,
      title: data.commit.title,
      url: data.commit.url,
      author: person(data.commit.author),
    },
    actor: person(data.actor),
  };
}

const timing = (event: BuildEvent) => ({
  createdAt: event.data.createdAt,
  startedAt: event.data.startedAt,
  finishedAt: event.data.finishedAt,
  durationMs: event.data.durationMs,
});

function headOf(event: BuildEvent, mark: Mark): PipelineHead {
  return {
    mark,
    phase: event.data.phase,
    status: event.data.status,
    providerStatus: event.data.providerStatus,
    ...timing(event),
  };
}

/** Replaces (or inserts) the item with this id when the candidate is further along; keeps ids sorted. */
function upsertById<T extends { readonly id: string; readonly mark: Mark }>(
  items: readonly T[],
  candidate: T,
): readonly T[] {
  const index = items.findIndex((item) => item.id === candidate.id);
  if (index >= 0) {
    const existing = items[index];
    if (existing && compareMarks(candidate.mark, existing.mark) <= 0) return items;
    return items.map((item, i) => (i === index ? candidate : item));
  }
  return [...items, candidate].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Earlier jobs without those a later attempt ran a job of the same name in; `jobs` itself when none. */
function latestOfEachName(jobs: readonly EarlierJob[]): readonly EarlierJob[] {
  const latest = new Map<string, number>();
  for (const job of jobs) latest.set(job.name, Math.max(job.attempt, latest.get(job.name) ?? 0));
  const kept = jobs.filter((job) => latest.get(job.name) === job.attempt);
  return kept.length === jobs.length ? jobs : kept;
}

/** A run's earlier jobs with `jobs` of attempt `attempt` (GitHub Actions jobs only) among them. */
function withEarlierJobs(
  earlier: readonly EarlierJob[],
  jobs: readonly JobState[],
  attempt: number,
): readonly EarlierJob[] {
  let next = earlier;
  for (const job of jobs) if (job.retriedByAttempt === true) next = upsertById(next, { ...job, attempt });
  return latestOfEachName(next);
}

/** Pipeline events say more about the run than job events; among equals the newest wins. */
function newerContext(current: RunContext, candidate: RunContext): RunContext {
  if (candidate.fromPipeline !== current.fromPipeline) return candidate.fromPipeline ? candidate : current;
  return compareMarks(candidate.mark, current.mark) > 0 ? candidate : current;
}

/**
 * Folds one build event into a run. The result is a join: it does not depend on the order
 * in which events arrive, and applying an event twice changes nothing. Each slot (the
 * pipeline, every job, every deployment) keeps its furthest event, so a late `running`
 * never overwrites `finished`; in a run whose newest state wins (`run.latestWins`, a GitHub
 * commit status) the newest event is the furthest, so a re-run's `pending` replaces `failure`. A higher attempt starts the run afresh; events of an older
 * attempt are ignored, but for GitHub Actions jobs, which go to `earlierJobs` (a re-run of
 * some jobs keeps the others' results). Returns `current` itself when the event changes nothing.
 */
export function applyEvent(current: RunState | null, event: BuildEvent): RunState {
  const { data } = event;
  const mark = markOf(event);
  // a job the record left out (run-limit.ts) is back only once it got further than it was;
  // its entry there stays, and counts no more while the job is listed (see omittedJobsOf)
  const left = data.kind === "job" && data.job ? current?.omittedJobs?.jobs[data.job.id] : undefined;
  if (current && left !== undefined && data.run.attempt <= current.attempt) {
    const id = data.job?.id;
    const listed =
      current.jobs.some((job) => job.id === id) || current.earlierJobs?.some((job) => job.id === id);
    if (!listed && (data.run.attempt < current.attempt || mark.rank <= left[0])) return current;
  }
  if (current && data.run.attempt < current.attempt) {
    // a GitHub Actions job of an earlier attempt, late: kept in case no later attempt re-ran it
    if (data.kind !== "job" || data.job?.retriedByAttempt !== true) return current;
    const earlier = current.earlierJobs ?? [];
    const next = withEarlierJobs(earlier, [jobOf(event, data.job, mark)], data.run.attempt);
    return next.length === earlier.length && next.every((job, i) => job === earlier[i])
      ? current
      : { ...current, earlierJobs: next };
  }
  const base = current && data.run.attempt === current.attempt ? current : null;
  // a new attempt: the one before is earlier now
  const earlierJobs =
    current && !base
      ? withEarlierJobs(current.earlierJobs ?? [], current.jobs, current.attempt)
      : (base?.earlierJobs ?? []);
  const candidateContext = contextOf(event, mark);
  const context = base ? newerContext(base.context, candidateContext) : candidateContext;

  let pipeline = base?.pipeline ?? null;
  let jobs = base?.jobs ?? [];
  let deployments = base?.deployments ?? [];
  if (data.kind === "pipeline") {
    const head = pipeline === null || compareMarks(mark, pipeline.mark) > 0 ? headOf(event, mark) : pipeline;
    // the run was created when its first event says: a GitHub commit status's created_at is
    // that status's, so each new status would otherwise make an old commit's run the newest
    const createdAt = earliest([head.createdAt, pipeline?.createdAt ?? null, data.createdAt]);
    pipeline = createdAt === head.createdAt ? head : { ...head, createdAt };
  }
  if (data.kind === "job" && data.job) jobs = upsertById(jobs, jobOf(event, data.job, mark));
  if (data.kind === "deployment" && data.deployment) {
    const deployment: DeploymentState = {
      id: data.deployment.id,
      environment: data.deployment.environment,
      url: data.deployment.url,
      mark,
      phase: data.phase,
      status: data.status,
    };
    deployments = upsertById(deployments, deployment);
  }

  if (
    base &&
    context === base.context &&
    pipeline === base.pipeline &&
    jobs === base.jobs &&
    deployments === base.deployments
  ) {
    return base;
  }
  return {
    v: 1,
    provider: data.provider,
    runId: data.run.id,
    attempt: data.run.attempt,
    context,
    pipeline,
    jobs,
    deployments,
    ...(earlierJobs.length > 0 ? { earlierJobs } : {}),
    ...(base?.omittedJobs ? { omittedJobs: base.omittedJobs } : {}),
  };
}

function jobOf(event: BuildEvent, job: NonNullable<BuildEventData["job"]>, mark: Mark): JobState {
  const { data } = event;
  return {
    id: job.id,
    name: job.name,
    stage: job.stage,
    url: job.url,
    runnerName: job.runnerName,
    allowFailure: job.allowFailure,
    mark,
    phase: data.phase,
    status: data.status,
    providerStatus: data.providerStatus,
    ...(job.retriedByAttempt === true ? { retriedByAttempt: true } : {}),
    ...timing(event),
  };
}
