import type { Person, Transition } from "../config/schema.ts";
import { attemptJobs, newestTries } from "../events/job-tries.ts";
import type { BuildEventData } from "../events/schema.ts";
import { entityName, outcomeOf } from "./entity.ts";
import { displayName, findPerson } from "./people.ts";
import { compareRank, type EntityRecord, type JobAuthor } from "./record.ts";
import { clip, oneLine, withoutBidiControls } from "./render/text.ts";

const nameOf = (name: string | null): string | null => (name === null ? null : clip(oneLine(name), 100));

export type Tone = "failure" | "success" | "running" | "neutral";

export interface JobLink {
  readonly name: string;
  readonly url: string | null;
  readonly allowFailure: boolean;
}

/** Everything a renderer shows, decided once so Slack and e-mail say the same thing. */
export interface NoticeView {
  readonly provider: string;
  readonly repository: { readonly name: string; readonly url: string | null };
  readonly branch: string | null;
  /** whether `branch` names a tag (GitLab says so; GitHub's workflow runs do not) */
  readonly tag: boolean;
  readonly pipeline: string;
  readonly runNumber: number | null;
  readonly attempt: number;
  readonly runUrl: string | null;
  readonly trigger: string | null;
  /** the pull request (GitHub, `PR #12`) or merge request (GitLab, `MR !12`) the run built */
  readonly pullRequest: { readonly label: string; readonly url: string | null } | null;
  readonly tone: Tone;
  readonly headline: string;
  /** the transition shown, when the current attempt's state is one */
  readonly transition: Transition | null;
  readonly commit: {
    readonly sha: string;
    readonly shortSha: string;
    readonly title: string | null;
    readonly url: string | null;
  };
  readonly author: { readonly name: string | null; readonly slackId: string | null };
  readonly durationMs: number | null;
  readonly failedJobs: readonly JobLink[];
  readonly jobCount: number;
  readonly dashboardUrl: string | null;
}

const TRANSITION_HEADLINES: Record<Transition, string> = {
  failed: "Failed",
  still_failing: "Still failing",
  fixed: "Fixed",
  succeeded: "Succeeded",
  started: "Running",
  canceled: "Canceled",
};

const STATUS_HEADLINES: Partial<Record<BuildEventData["status"], string>> = {
  queued: "Queued",
  running: "Running",
  success: "Succeeded",
  failure: "Failed",
  canceled: "Canceled",
  skipped: "Skipped",
  timed_out: "Timed out",
  action_required: "Action required",
  manual: "Waiting for a manual action",
};

function toneOf(data: BuildEventData): Tone {
  if (data.phase !== "finished") return "running";
  const outcome = outcomeOf(data.status);
  return outcome === "failure" ? "failure" : outcome === "success" ? "success" : "neutral";
}

function durationOf(data: BuildEventData): number | null {
  if (data.durationMs !== null) return data.durationMs;
  if (data.startedAt === null || data.finishedAt === null) return null;
  const ms = Date.parse(data.finishedAt) - Date.parse(data.startedAt);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}

/**
 * A job's event with the commit its run's event described: GitHub's `workflow_job` and
 * `check_run` payloads carry only the sha, so a job route's notice would say "Author:
 * unknown" with no title. Only a run of the same commit fills it in. (A deployment's run id
 * is its own, not a pipeline's: there is no run event to take it from.)
 */
export function withRunCommit(data: BuildEventData, run: BuildEventData | null | undefined): BuildEventData {
  if (data.kind !== "job" || !run || run.commit.sha !== data.commit.sha) return data;
  const commit = data.commit;
  if (commit.title !== null && commit.author !== null) return data;
  return {
    ...data,
    commit: {
      ...commit,
      title: commit.title ?? run.commit.title,
      url: commit.url ?? run.commit.url,
      author: commit.author ?? run.commit.author,
    },
  };
}

/**
 * A pipeline's or job's event with its commit author's username, when a job event of the run
 * (GitLab job hooks link the author's profile) named the same author of the same commit:
 * GitLab redacts commit e-mails, so without it `people` cannot find an author who did not
 * push. A job's final state told by its pipeline's hook names no author link either.
 */
export function withJobAuthor(data: BuildEventData, known: JobAuthor | null | undefined): BuildEventData {
  const author = data.commit.author;
  if (data.kind === "deployment" || !known || author === null || author.username !== null) return data;
  if (known.sha !== data.commit.sha || known.name !== author.name) return data;
  return { ...data, commit: { ...data.commit, author: { ...author, username: known.username } } };
}

/** How each provider names and links a change request. */
function changeRequest(data: BuildEventData): NoticeView["pullRequest"] {
  const number = data.ref.pullRequest;
  if (number === null) return null;
  const repository = data.repository.url;
  return data.provider === "gitlab"
    ? { label: `MR !${number}`, url: repository === null ? null : `${repository}/-/merge_requests/${number}` }
    : { label: `PR #${number}`, url: repository === null ? null : `${repository}/pull/${number}` };
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

/** The view of a record's latest state; `data` must be present (the caller checks). */
export function buildView(
  record: EntityRecord & { readonly data: BuildEventData },
  people: readonly Person[],
  dashboardUrl: string | null,
): NoticeView {
  const data = withJobAuthor(record.data, record.jobAuthor);
  const notice = record.notice;
  const current = notice !== null && notice.attempt === data.run.attempt ? notice.transition : null;
  // a `started` notice only names the state while the run is still going, and a finish's
  // only once it finished: a commit status re-run by its CI (run.latestWins) is going again
  const transition =
    current === null || (current === "started") === (data.phase === "finished") ? null : current;
  // a status the tables do not name (GitHub's `stale`, a new GitLab one) is shown, tamed
  const raw = clip(oneLine(data.providerStatus), 40);
  const headline =
    (transition ? TRANSITION_HEADLINES[transition] : STATUS_HEADLINES[data.status]) ??
    (data.phase === "finished" ? `Finished (${raw})` : `Running (${raw})`);
  const author = data.commit.author;
  const person = findPerson(people, data);
  // a GitLab retry is a new job of the same name: only its newest try counts
  const jobs = newestTries(
    attemptJobs(Object.values(record.jobs), data.run.attempt, data.phase === "finished", (job) => ({
      attempt: job.attempt,
      name: job.name,
      retriedByAttempt: job.retriedByAttempt === true,
    })),
    (job) => ({
      id: job.id,
      stage: job.stage ?? null,
      name: job.name,
      startedMs: job.startedMs ?? Number.NEGATIVE_INFINITY,
      retriedByAttempt: job.retriedByAttempt === true,
    }),
    (a, b) => compareRank(a.rank, b.rank),
  );
  const failedJobs = jobs
    .filter((job) => outcomeOf(job.status) === "failure")
    .sort((a, b) => Number(a.allowFailure) - Number(b.allowFailure) || a.name.localeCompare(b.name))
    .map((job) => ({ name: withoutBidiControls(job.name), url: job.url, allowFailure: job.allowFailure }));
  return {
    provider: data.provider,
    // names are the senders' free text: none may carry a bidi control into a notice (see text.ts)
    repository: { name: withoutBidiControls(data.repository.fullName), url: data.repository.url },
    branch: data.ref.name === null ? null : withoutBidiControls(data.ref.name),
    tag: data.ref.type === "tag",
    // one line each: a `workflow:name: $CI_COMMIT_MESSAGE` would otherwise cut a subject short
    pipeline: clip(oneLine(entityName(data)), 150),
    runNumber: data.run.number,
    attempt: data.run.attempt,
    runUrl: data.kind === "job" ? (data.job?.url ?? data.run.url) : data.run.url,
    trigger: data.run.trigger === null ? null : withoutBidiControls(data.run.trigger),
    pullRequest: changeRequest(data),
    tone: toneOf(data),
    headline,
    transition,
    commit: {
      sha: data.commit.sha,
      shortSha: data.commit.sha.slice(0, 7),
      title: data.commit.title === null ? null : withoutBidiControls(data.commit.title),
      url: data.commit.url,
    },
    author: { name: nameOf(displayName(author, person)), slackId: person?.slack ?? null },
    durationMs: durationOf(data),
    failedJobs,
    jobCount: jobs.length,
    dashboardUrl,
  };
}
