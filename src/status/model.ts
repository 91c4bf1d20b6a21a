import type { Phase, Provider, Status } from "../events/schema.ts";

/** The five states a badge, a status answer and a dashboard row can show. */
export const STATES = ["passing", "failing", "running", "canceled", "unknown"] as const;
export type State = (typeof STATES)[number];

/**
 * Where an event sits in a run's history. Larger marks win: phase first (a state only moves
 * forward), then the provider's update time, then fixed tie-breakers so that any two events
 * compare the same way on every replica.
 */
export interface Mark {
  readonly rank: number;
  readonly time: string;
  readonly status: Status;
  readonly eventId: string;
}

export interface StoredPerson {
  readonly name: string | null;
  readonly email: string | null;
  readonly username: string | null;
}

/** What a run is about; taken from the newest event, pipeline events preferred over job events. */
export interface RunContext {
  readonly mark: Mark;
  readonly fromPipeline: boolean;
  readonly repository: { readonly id: string; readonly fullName: string; readonly url: string | null };
  readonly name: string;
  readonly number: number | null;
  readonly url: string | null;
  readonly trigger: string | null;
  /** GitHub Actions: the workflow's id (absent for other providers and in older records) */
  readonly workflowId?: string;
  readonly ref: {
    readonly name: string | null;
    readonly type: "branch" | "tag" | null;
    readonly sha: string;
    readonly pullRequest: number | null;
  };
  readonly commit: {
    readonly sha: string;
    readonly title: string | null;
    readonly url: string | null;
    readonly author: StoredPerson | null;
  };
  readonly actor: StoredPerson | null;
}

export interface Timing {
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
}

export interface PipelineHead extends Timing {
  readonly mark: Mark;
  readonly phase: Phase;
  readonly status: Status;
  readonly providerStatus: string;
}

export interface JobState extends Timing {
  readonly id: string;
  readonly name: string;
  readonly stage: string | null;
  readonly url: string | null;
  readonly runnerName: string | null;
  readonly allowFailure: boolean;
  readonly mark: Mark;
  readonly phase: Phase;
  readonly status: Status;
  readonly providerStatus: string;
  /**
   * GitHub Actions: retried only as a new attempt, so never a try of another job of its name
   * (absent in records written before it was kept, and for other jobs)
   */
  readonly retriedByAttempt?: boolean;
}

/** A GitHub Actions job of an earlier attempt of its run. */
export interface EarlierJob extends JobState {
  readonly attempt: number;
}

export interface DeploymentState {
  readonly id: string;
  readonly environment: string;
  readonly url: string | null;
  readonly mark: Mark;
  readonly phase: Phase;
  readonly status: Status;
}

/**
 * Jobs a run record left out to stay within NATS's max_payload (see run-limit.ts): for each,
 * by id, how far it got and its status then; and the times they add to the run's.
 */
export interface OmittedJobs {
  readonly jobs: Readonly<Record<string, readonly [rank: number, status: Status]>>;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly updatedAt: string | null;
}

/** One run (one attempt of it) as stored under run.<provider>.<repository id>.<run id>. */
export interface RunState {
  readonly v: 1;
  readonly provider: Provider;
  readonly runId: string;
  readonly attempt: number;
  readonly context: RunContext;
  readonly pipeline: PipelineHead | null;
  /** sorted by id so that equal states serialize equally */
  readonly jobs: readonly JobState[];
  readonly deployments: readonly DeploymentState[];
  /**
   * GitHub Actions: the jobs of earlier attempts, only the latest attempt's of each name,
   * sorted by id. A re-run of some jobs keeps the others' results, and GitHub sends no event of
   * them again (absent when there are none, and in records written before they were kept).
   */
  readonly earlierJobs?: readonly EarlierJob[];
  /** absent unless the run had too many jobs to keep them all (see OmittedJobs) */
  readonly omittedJobs?: OmittedJobs;
}

export interface FailedJob {
  readonly id: string;
  readonly name: string;
  readonly stage: string | null;
  readonly url: string | null;
  readonly status: Status;
}

/** A run as listed on a branch: enough for the runs API, the dashboard and badges. */
export interface RunSummary {
  readonly provider: Provider;
  readonly repositoryId: string;
  readonly runId: string;
  /** KV revision of the run record this summary was made from; a higher one is newer */
  readonly revision: number;
  readonly pipeline: string;
  readonly number: number | null;
  readonly attempt: number;
  readonly url: string | null;
  readonly trigger: string | null;
  /** GitHub Actions: the workflow's id, which tells apart workflows that share a name */
  readonly workflowId?: string;
  readonly phase: Phase;
  readonly status: Status;
  readonly state: State;
  readonly ref: RunContext["ref"];
  readonly commit: {
    readonly sha: string;
    readonly title: string | null;
    readonly url: string | null;
    /** no e-mail address: these answers may be public (badges usually are) */
    readonly author: { readonly name: string | null; readonly username: string | null } | null;
  };
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  readonly updatedAt: string;
  /** the first MAX_LISTED_FAILED_JOBS of them */
  readonly failedJobs: readonly FailedJob[];
  /** how many jobs failed, when that is more than `failedJobs` lists (absent otherwise) */
  readonly failedJobCount?: number;
}

/** The recent runs of one pipeline on one branch, newest first, as stored under branch.… */
export interface BranchState {
  readonly v: 1;
  readonly provider: Provider;
  readonly repository: { readonly id: string; readonly fullName: string; readonly url: string | null };
  readonly branch: string;
  readonly pipeline: string;
  readonly runs: readonly RunSummary[];
}
