import type { Provider } from "../events/schema.ts";
import type { BranchState, RunSummary, State } from "./model.ts";
import { gitlabSequence } from "../events/ref-status.ts";
import { repositoryKey } from "./keys.ts";
import { compareNewestFirst, sortTime } from "./summary.ts";

/** any failure → failing; else any running → running; all passing → passing; else canceled, else unknown. */
export function overallState(states: readonly State[]): State {
  if (states.length === 0) return "unknown";
  if (states.includes("failing")) return "failing";
  if (states.includes("running")) return "running";
  if (states.every((s) => s === "passing")) return "passing";
  if (states.includes("canceled")) return "canceled";
  return "unknown";
}

/**
 * A pipeline's state is its newest run's, skipping runs that were skipped: a `[ci skip]`
 * push or a skipped workflow decides nothing, so it must not turn a red badge green (the
 * notices ignore it the same way). A pipeline with only skipped runs shows the newest.
 * GitHub workflow files may share a name: each workflow's newest run counts, so one's green
 * run does not hide the other's red one. A run not yet known by its workflow (only its job
 * events arrived, or stored before workflows were told apart) may be any of them.
 */
function pipelineStatus(s: BranchState): Omit<PipelineStatus, "decides">[] {
  const workflows = new Set(s.runs.flatMap((r) => (r.workflowId === undefined ? [] : [r.workflowId])));
  const groups =
    workflows.size === 0
      ? [s.runs]
      : [...workflows].map((id) => s.runs.filter((r) => r.workflowId === undefined || r.workflowId === id));
  return groups.flatMap((runs) => {
    const run = runs.find((r) => r.status !== "skipped") ?? runs[0];
    return run ? [{ provider: s.provider, pipeline: s.pipeline, state: run.state, run }] : [];
  });
}

/**
 * When each commit was first built, per provider: a commit is as new as its first run. A run
 * of an older commit may be created after the newest commit's runs (Codecov posts its status
 * once the older commit's coverage is in; a queued Jenkins build posts its first status when
 * it starts); it must not make that older commit the branch's newest.
 */
function firstBuilt(runs: readonly RunSummary[]): (run: RunSummary) => number {
  const key = (run: RunSummary) => `${run.provider}\u0000${run.commit.sha}`;
  const first = new Map<string, number>();
  for (const run of runs) {
    const seen = first.get(key(run));
    if (seen === undefined || sortTime(run) < seen) first.set(key(run), sortTime(run));
  }
  return (run) => first.get(key(run)) ?? sortTime(run);
}

/**
 * Marks the pipelines that decide a branch's state, as the providers' own pages do. GitHub:
 * those whose latest run built the branch's newest commit (the commit's combined status): of
 * the branch's recorded `runs`, the commit whose first run is the newest. GitLab: the newest
 * pipeline, whatever its name (GitLab's pipeline badge). So a workflow renamed or removed, a
 * named GitLab pipeline, or a workflow a path filter skipped for the newest commit stops
 * deciding once a newer commit is built: it no longer keeps a branch red.
 */
export function withDeciding(
  pipelines: readonly Omit<PipelineStatus, "decides">[],
  runs: readonly RunSummary[],
): PipelineStatus[] {
  // a skipped run built nothing: it neither names the newest commit nor decides
  const built = (run: RunSummary): boolean => run.status !== "skipped";
  const committed = firstBuilt(runs);
  const newer = (a: RunSummary, b: RunSummary): boolean => {
    const byCommit = a.provider === "gitlab" ? 0 : committed(a) - committed(b);
    return byCommit !== 0 ? byCommit > 0 : compareNewestFirst(a, b) < 0;
  };
  const newest = new Map<Provider, RunSummary>();
  for (const { provider, run } of pipelines) {
    const seen = newest.get(provider);
    if (built(run) && (seen === undefined || newer(run, seen))) newest.set(provider, run);
  }
  return pipelines.map((p) => {
    const head = newest.get(p.provider);
    // only skipped runs on this branch: they show (as passing), as before
    if (head === undefined) return { ...p, decides: true };
    const decides =
      built(p.run) &&
      (p.provider === "gitlab"
        ? p.run === head
        : head.commit.sha === "" || p.run.commit.sha === head.commit.sha);
    return { ...p, decides };
  });
}

/** A branch's state: its deciding pipelines' states combined. */
const branchState = (pipelines: readonly PipelineStatus[]): State =>
  overallState(pipelines.filter((p) => p.decides).map((p) => p.state));

export type Lookup<T> =
  { readonly found: true; readonly value: T } | { readonly found: false; readonly message: string };

const nonEmpty = (states: readonly BranchState[]) => states.filter((s) => s.runs.length > 0);

function ofRepository(states: readonly BranchState[], repository: string, provider: Provider | null) {
  const wanted = repositoryKey(repository);
  return nonEmpty(states).filter(
    (s) => repositoryKey(s.repository.fullName) === wanted && (provider === null || s.provider === provider),
  );
}

const unknownRepository = (repository: string, provider: Provider | null) => ({
  found: false as const,
  message: `unknown repository: ${repository}${provider ? ` (provider ${provider})` : ""}`,
});

export interface PipelineStatus {
  readonly provider: Provider;
  readonly pipeline: string;
  readonly state: State;
  readonly run: RunSummary;
  /** whether it decides the branch's state (see withDeciding) */
  readonly decides: boolean;
}

export interface StatusAnswer {
  readonly repository: string;
  readonly branch: string;
  readonly provider: Provider | null;
  readonly state: State;
  readonly pipelines: readonly PipelineStatus[];
}

export function branchStatus(
  states: readonly BranchState[],
  query: { repository: string; branch: string; provider: Provider | null; pipeline?: string | null },
): Lookup<StatusAnswer> {
  const repo = ofRepository(states, query.repository, query.provider);
  if (repo.length === 0) return unknownRepository(query.repository, query.provider);
  const onBranch = repo.filter(
    (s) => s.branch === query.branch && (query.pipeline == null || s.pipeline === query.pipeline),
  );
  if (onBranch.length === 0) {
    const what = query.pipeline == null ? "" : ` for pipeline ${query.pipeline}`;
    return {
      found: false,
      message: `no runs recorded on branch ${query.branch} of ${query.repository}${what}`,
    };
  }
  const pipelines = withDeciding(
    onBranch.flatMap((s) => pipelineStatus(s)),
    onBranch.flatMap((s) => s.runs),
  ).sort((a, b) => a.pipeline.localeCompare(b.pipeline) || a.provider.localeCompare(b.provider));
  return {
    found: true,
    value: {
      repository: query.repository,
      branch: query.branch,
      provider: query.provider,
      state: branchState(pipelines),
      pipelines,
    },
  };
}

export function recentRuns(
  states: readonly BranchState[],
  query: {
    repository: string;
    branch: string | null;
    pipeline: string | null;
    provider: Provider | null;
    limit: number;
  },
): Lookup<RunSummary[]> {
  const repo = ofRepository(states, query.repository, query.provider);
  if (repo.length === 0) return unknownRepository(query.repository, query.provider);
  const runs = repo
    .filter(
      (s) =>
        (query.branch === null || s.branch === query.branch) &&
        (query.pipeline === null || s.pipeline === query.pipeline),
    )
    .flatMap((s) => s.runs)
    .sort(compareNewestFirst)
    .slice(0, query.limit);
  return { found: true, value: runs };
}

/** One dashboard row: every pipeline of one branch of one repository. */
export interface BranchRow {
  readonly id: string;
  readonly provider: Provider;
  readonly repository: string;
  readonly repositoryUrl: string | null;
  readonly branch: string;
  readonly state: State;
  readonly pipelines: readonly PipelineStatus[];
  /** recent runs of all its pipelines, newest first */
  readonly runs: readonly RunSummary[];
  /** the recent runs of one pipeline, newest first, for the duration trend (see trendOf) */
  readonly trend: { readonly pipeline: string; readonly runs: readonly RunSummary[] };
}

export const rowId = (provider: Provider, repository: string, branch: string): string =>
  `row-${Buffer.from(`${provider}\u0000${repository}\u0000${branch}`, "utf8").toString("base64url")}`;

const BRANCH_FIRST = ["main", "master", "develop", "trunk"];

/** What needs attention first: broken, then in progress, then the rest. */
const STATE_FIRST: Readonly<Record<State, number>> = {
  failing: 0,
  running: 1,
  canceled: 2,
  unknown: 3,
  passing: 4,
};

/**
 * Failing rows first, then running ones, then the rest; within a state, repositories
 * alphabetically and, within one, the usual default branches first, then by name. The page's
 * script compares these keys as strings to place a row the live feed moved.
 */
export function rowSortKey(row: Pick<BranchRow, "repository" | "branch" | "provider" | "state">): string {
  const rank = BRANCH_FIRST.indexOf(row.branch);
  return `${STATE_FIRST[row.state]}\t${row.repository.toLowerCase()}\t${rank < 0 ? 9 : rank}${row.branch.toLowerCase()}\t${row.provider}`;
}

const rowIds = new WeakMap<BranchState, string>();
/** A branch list's row id; a list is never changed, only replaced, so its id is kept. */
export function rowIdOf(state: BranchState): string {
  let id = rowIds.get(state);
  if (id === undefined) {
    id = rowId(state.provider, state.repository.fullName, state.branch);
    rowIds.set(state, id);
  }
  return id;
}

/** The branch lists that have runs, by dashboard row; with `only`, just those rows. */
export function rowGroups(
  states: Iterable<BranchState>,
  only?: ReadonlySet<string>,
): Map<string, BranchState[]> {
  const groups = new Map<string, BranchState[]>();
  for (const state of states) {
    if (state.runs.length === 0) continue;
    const id = rowIdOf(state);
    if (only && !only.has(id)) continue;
    const group = groups.get(id);
    if (group) group.push(state);
    else groups.set(id, [state]);
  }
  return groups;
}

export function dashboardRows(states: Iterable<BranchState>, runsPerRow = 20): BranchRow[] {
  return [...rowGroups(states).entries()]
    .map(([id, group]) => rowOf(id, group, runsPerRow))
    .sort((a, b) => (rowSortKey(a) < rowSortKey(b) ? -1 : rowSortKey(a) > rowSortKey(b) ? 1 : 0));
}

export function rowOf(id: string, group: readonly BranchState[], runsPerRow = 20): BranchRow {
  const first = group[0];
  if (!first) throw new Error("a dashboard row needs at least one pipeline");
  const pipelines = withDeciding(
    group.flatMap((s) => pipelineStatus(s)),
    group.flatMap((s) => s.runs),
  ).sort((a, b) => a.pipeline.localeCompare(b.pipeline));
  return {
    id,
    provider: first.provider,
    repository: first.repository.fullName,
    repositoryUrl: first.repository.url,
    branch: first.branch,
    state: branchState(pipelines),
    pipelines,
    runs: group
      .flatMap((s) => s.runs)
      .sort(compareNewestFirst)
      .slice(0, runsPerRow),
    trend: trendOf(group, pipelines, runsPerRow),
  };
}

/**
 * Durations only compare within one pipeline (a 30 s lint beside a 20 min build says
 * nothing), so the trend follows one. GitLab: the newest deciding pipeline's sequence (see
 * gitlabSequence). GitHub: a deciding pipeline before one that no longer decides,
 * then the one with the most recorded runs, then the slowest (what a trend is watched for),
 * then by name, so the choice is stable from one render to the next.
 */
function trendOf(
  group: readonly BranchState[],
  pipelines: readonly PipelineStatus[],
  runsPerRow: number,
): BranchRow["trend"] {
  const first = group[0];
  if (first?.provider === "gitlab") {
    // GitLab pipelines are one sequence per source, whatever their names (a workflow:name
    // may change with every run): the newest deciding pipeline's sequence
    const head = pipelines.find((p) => p.decides)?.run ?? pipelines[0]?.run;
    const sequence = gitlabSequence(head?.trigger ?? null);
    const runs = group
      .flatMap((s) => s.runs)
      .filter((run) => gitlabSequence(run.trigger) === sequence)
      .sort(compareNewestFirst)
      .slice(0, runsPerRow);
    return { pipeline: head?.pipeline ?? first.pipeline, runs };
  }
  const decides = new Set(pipelines.filter((p) => p.decides).map((p) => p.pipeline));
  const longest = (s: BranchState) => Math.max(0, ...s.runs.map((r) => r.durationMs ?? 0));
  const rank = (s: BranchState) => [decides.has(s.pipeline) ? 1 : 0, s.runs.length, longest(s)] as const;
  const chosen = [...group].sort((a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return (rb[i] ?? 0) - (ra[i] ?? 0);
    return a.pipeline.localeCompare(b.pipeline);
  })[0];
  return chosen
    ? { pipeline: chosen.pipeline, runs: [...chosen.runs].sort(compareNewestFirst).slice(0, runsPerRow) }
    : { pipeline: "", runs: [] };
}
