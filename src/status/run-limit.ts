import { earliest } from "./merge.ts";
import type { BranchState, JobState, OmittedJobs, RunState } from "./model.ts";

const latestOf = (values: readonly (string | null)[]): string | null =>
  values.reduce<string | null>(
    (max, v) => (v !== null && (max === null || Date.parse(v) > Date.parse(max)) ? v : max),
    null,
  );

const PASSING = new Set(["success", "neutral", "skipped"]);
const FINISHED_RANK = 2;

/**
 * Which jobs go first: finished and passing (they say least), then queued, then running, then
 * the finished rest (failures are what a reader looks for), each by id.
 */
function omitOrder(job: JobState): number {
  if (job.mark.rank >= FINISHED_RANK) return PASSING.has(job.status) || job.allowFailure ? 0 : 3;
  return job.mark.rank === 0 ? 1 : 2;
}

/**
 * A run record NATS can store: a KV value is at most max_payload (1 MB by default), and a
 * pipeline of 2,000 matrix jobs is more, so no event of it could be stored after that. Over
 * `maxBytes`, finished passing jobs, then waiting and running ones, then the rest are left out
 * until the record is half that, each counted in `omittedJobs` by its progress and status. Only
 * jobs whose name no other job of the record has: a passing retry left out would make the
 * failed try it replaced count again. `bytes` is the size of `run` as JSON; returns `run`
 * itself when that fits.
 */
export function keepWithinBytes(run: RunState, bytes: number, maxBytes: number): RunState {
  if (bytes <= maxBytes) return run;
  const earlier = run.earlierJobs ?? [];
  const names = new Map<string, number>();
  for (const job of [...run.jobs, ...earlier]) names.set(job.name, (names.get(job.name) ?? 0) + 1);
  const unique = (job: JobState): boolean => names.get(job.name) === 1;
  // earlier attempts' jobs count only as their run's; a passing one is all that may go
  const candidates = [
    ...run.jobs.filter(unique),
    ...earlier.filter((job) => unique(job) && omitOrder(job) === 0),
  ].sort((a, b) => omitOrder(a) - omitOrder(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let excess = bytes - maxBytes / 2;
  const out = new Set<JobState>();
  for (const job of candidates) {
    if (excess <= 0) break;
    out.add(job);
    // what its entry in omittedJobs takes back: "id":[2,"success"],
    excess -= Buffer.byteLength(JSON.stringify(job)) - (job.id.length + 20);
  }
  if (out.size === 0) return run;
  const left = [...out];
  const before = run.omittedJobs;
  const jobs: Record<string, readonly [number, JobState["status"]]> = { ...before?.jobs };
  // an allowed failure counts as GitLab counts it, a pass with warnings
  for (const job of left) jobs[job.id] = [job.mark.rank, job.allowFailure ? "neutral" : job.status];
  const omittedJobs: OmittedJobs = {
    jobs,
    createdAt: earliest([before?.createdAt ?? null, ...left.map((job) => job.createdAt)]),
    startedAt: earliest([before?.startedAt ?? null, ...left.map((job) => job.startedAt)]),
    finishedAt: latestOf([before?.finishedAt ?? null, ...left.map((job) => job.finishedAt)]),
    updatedAt: latestOf([before?.updatedAt ?? null, ...left.map((job) => job.mark.time)]),
  };
  const kept = <T extends JobState>(list: readonly T[]): T[] => list.filter((job) => !out.has(job));
  const { earlierJobs: _earlier, ...rest } = run;
  const earlierKept = kept(earlier);
  return {
    ...rest,
    jobs: kept(run.jobs),
    ...(earlierKept.length > 0 ? { earlierJobs: earlierKept } : {}),
    omittedJobs,
  };
}

/**
 * The jobs a run record left out and has not listed again since (a later event of one brings it
 * back): each one's progress and status then.
 */
export function omittedJobsOf(run: RunState): { rank: number; status: JobState["status"] }[] {
  const omitted = run.omittedJobs;
  if (omitted === undefined) return [];
  const listed = new Set([...run.jobs, ...(run.earlierJobs ?? [])].map((job) => job.id));
  return Object.entries(omitted.jobs).flatMap(([id, [rank, status]]) =>
    listed.has(id) ? [] : [{ rank, status }],
  );
}

/** How many jobs a run record left out. */
export const omittedCount = (run: RunState): number => omittedJobsOf(run).length;

/**
 * A branch list NATS can store: `status.runsPerBranch` may be up to 500, and 150 summaries of
 * runs listing 20 failed jobs of 190-character names are 1 MB. Over `maxBytes` (its size as
 * JSON is `bytes`), the oldest runs go until it is nine tenths of that; the newest stays.
 */
export function keepBranchWithinBytes(list: BranchState, bytes: number, maxBytes: number): BranchState {
  if (bytes <= maxBytes || list.runs.length <= 1) return list;
  let excess = bytes - (maxBytes * 9) / 10;
  let keep = list.runs.length;
  while (keep > 1 && excess > 0) {
    keep -= 1;
    excess -= Buffer.byteLength(JSON.stringify(list.runs[keep])) + 1;
  }
  return { ...list, runs: list.runs.slice(0, keep) };
}
