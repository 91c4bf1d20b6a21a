import type { BranchState, FailedJob, RunSummary } from "./model.ts";

type Repository = BranchState["repository"];
type Author = NonNullable<RunSummary["commit"]["author"]>;

/** One empty list for every run without failed jobs: JSON.parse makes a new one per run. */
const NO_FAILED_JOBS: readonly FailedJob[] = Object.freeze([]);

/**
 * Runs this module made. A list the store writes keeps the runs of the list before it, so
 * only its new run needs compacting.
 */
const compactRuns = new WeakSet<RunSummary>();

/** One repository object per repository (by `repositoryKey`), shared by its branch lists. */
export type SharedRepositories = Map<string, Repository>;

/** equal, with no other field either (a list from another release may carry more) */
const sameRepository = (a: Repository, b: Repository): boolean =>
  a.id === b.id &&
  a.fullName === b.fullName &&
  a.url === b.url &&
  Object.keys(a).length === Object.keys(b).length;

/** The strings and commit authors of one list, each value held once. */
class Shared {
  readonly #strings = new Map<string, string>();
  /** by name, then username */
  readonly #authors = new Map<string | null, Map<string | null, Author>>();

  string<S extends string | null>(value: S): S {
    if (value === null) return value;
    const known = this.#strings.get(value);
    if (known !== undefined) return known as S;
    this.#strings.set(value, value);
    return value;
  }

  /** an author equal to `author` seen before, else `author` with shared strings */
  author(author: Author | null): Author | null {
    if (author === null || Object.keys(author).length !== 2) return author;
    const byUsername = this.#authors.get(author.name) ?? new Map<string | null, Author>();
    const known = byUsername.get(author.username);
    if (known !== undefined) return known;
    const kept = { ...author, name: this.string(author.name), username: this.string(author.username) };
    this.learnAuthor(kept);
    return kept;
  }

  /** makes `author` (of a compact run) the one equal authors share */
  learnAuthor(author: Author | null): void {
    if (author === null || Object.keys(author).length !== 2) return;
    const byUsername = this.#authors.get(author.name) ?? new Map<string | null, Author>();
    if (byUsername.has(author.username)) return;
    byUsername.set(author.username, author);
    this.#authors.set(author.name, byUsername);
    this.string(author.name);
    this.string(author.username);
  }
}

/**
 * The same branch list with equal values held once. Parsed from JSON, every run of a list
 * holds its own copy of the branch, the pipeline and the repository id, the commit's sha
 * twice (ref and commit) and its author, and a finished run its finish time twice; every
 * list of a monorepo its own repository. The answer serializes exactly as `state` does.
 * Never changes `state` in place: the store's cache may share it.
 */
export function compactBranch(
  state: BranchState,
  repositories: SharedRepositories,
  repositoryKey: string,
): BranchState {
  const shared = new Shared();
  // first what a new run may have in common with the runs already compact, so that theirs is
  // the copy it shares (the store's new list takes its branch and pipeline from the new run)
  for (const run of state.runs) {
    if (!compactRuns.has(run)) continue;
    shared.string(run.repositoryId);
    shared.string(run.pipeline);
    shared.string(run.trigger);
    shared.string(run.ref.name);
    shared.learnAuthor(run.commit.author);
  }
  let repository = repositories.get(repositoryKey);
  if (repository === undefined || !sameRepository(repository, state.repository)) {
    repository = state.repository;
    if (!repositories.has(repositoryKey)) repositories.set(repositoryKey, repository);
  }
  shared.string(repository.id);
  const branch = shared.string(state.branch);
  const pipeline = shared.string(state.pipeline);
  return {
    ...state,
    repository,
    branch,
    pipeline,
    runs: state.runs.map((run) => (compactRuns.has(run) ? run : compactRun(run, shared))),
  };
}

function compactRun(run: RunSummary, shared: Shared): RunSummary {
  const { ref, commit } = run;
  const compact: RunSummary = {
    ...run,
    repositoryId: shared.string(run.repositoryId),
    pipeline: shared.string(run.pipeline),
    trigger: shared.string(run.trigger),
    ref: { ...ref, name: shared.string(ref.name), sha: shared.string(ref.sha) },
    commit: {
      ...commit,
      sha: shared.string(commit.sha),
      title: shared.string(commit.title),
      author: shared.author(commit.author),
    },
    createdAt: shared.string(run.createdAt),
    startedAt: shared.string(run.startedAt),
    finishedAt: shared.string(run.finishedAt),
    updatedAt: shared.string(run.updatedAt),
    failedJobs:
      run.failedJobs.length === 0
        ? NO_FAILED_JOBS
        : run.failedJobs.map((job) => ({
            ...job,
            name: shared.string(job.name),
            stage: shared.string(job.stage),
          })),
  };
  compactRuns.add(compact);
  return compact;
}
