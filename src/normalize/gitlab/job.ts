import type { BuildEventData } from "../../events/schema.ts";
import { PayloadError } from "../errors.ts";
import {
  actorOf,
  emailAt,
  firstLine,
  idAt,
  objectAt,
  pathFromWebUrl,
  person,
  jobRef,
  requiredId,
  requiredString,
  secondsToMs,
  stringAt,
  type JsonObject,
  type Person,
} from "./fields.ts";
import { DEFAULT_PIPELINE_NAME } from "./names.ts";
import { gitlabPhaseAndStatus } from "./status.ts";
import { latestTime, parseGitlabTime } from "./time.ts";

/**
 * Job hooks before GitLab 9.x (and some later ones) have no `project` object: the path then
 * comes from repository.git_ssh_url (`git@host:group/project.git`, which an instance under a
 * relative URL root such as https://host/gitlab/ does not prefix, unlike repository.homepage,
 * the next choice), and last from project_name ("Group / Sub / Project"), which holds display
 * names rather than the path but is all such payloads carry.
 */
function repositoryPath(payload: JsonObject, webUrl: string | null): string {
  const fromProject =
    stringAt(objectAt(payload, "project"), "path_with_namespace") ??
    pathFromSshUrl(stringAt(objectAt(payload, "repository"), "git_ssh_url")) ??
    pathFromWebUrl(webUrl);
  if (fromProject !== null) return fromProject;
  const projectName = stringAt(payload, "project_name")
    ?.replace(/\s*\/\s*/g, "/")
    .trim();
  if (projectName) return projectName;
  throw new PayloadError("neither project.path_with_namespace nor project_name is present");
}

/** `git@host:group/sub/project.git` or `ssh://git@host:2222/group/project.git` → `group/sub/project`. */
export function pathFromSshUrl(url: string | null): string | null {
  if (url === null) return null;
  const path = /^ssh:\/\/[^/]+\/(.+)$/.exec(url)?.[1] ?? /^[^/:]+@[^/:]+:(?!\/)(.+)$/.exec(url)?.[1] ?? null;
  const bare = path?.replace(/\.git$/, "").replace(/\/+$/, "") ?? null;
  return bare !== null && bare.includes("/") ? bare : null;
}

/**
 * The commit author's username from commit.author_url: GitLab links the author's profile,
 * `<instance root>/<username>` (a relative URL root included), when the commit's e-mail
 * belongs to a user, and sends `mailto:<e-mail>` otherwise. GitLab.com redacts the e-mail,
 * so this is all that finds the author in the people map.
 */
export function usernameFromAuthorUrl(url: string | null): string | null {
  if (url === null || !URL.canParse(url)) return null;
  const parsed = new URL(url);
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return null;
  const last = parsed.pathname.replace(/\/+$/, "").split("/").pop() ?? "";
  return /^[\w.-]+$/.test(last) ? last : null;
}

/**
 * What a job event says about one state of one job. Job hooks and the `builds` of pipeline
 * hooks both fill it, so that the same state of the same job becomes the same event, with the
 * same id, whichever hook told it.
 */
export interface JobFacts {
  readonly projectId: string;
  readonly fullName: string;
  readonly webUrl: string | null;
  readonly runId: string;
  readonly runName: string;
  readonly jobId: string;
  readonly jobName: string;
  readonly stage: string | null;
  readonly providerStatus: string;
  readonly runnerName: string | null;
  readonly allowFailure: boolean;
  readonly ref: { name: string | null; type: "branch" | "tag" | null; pullRequest: number | null };
  readonly sha: string;
  readonly commitTitle: string | null;
  readonly author: Person | null;
  readonly actor: Person | null;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** the job's duration GitLab sent, in ms (final only once the job finished) */
  readonly durationMs: number | null;
}

/** The job event of one state of one job. */
export function jobEventData(facts: JobFacts): BuildEventData {
  const { webUrl, runId, jobId, sha } = facts;
  const { phase, status } = gitlabPhaseAndStatus(facts.providerStatus, {
    startedAt: facts.startedAt,
    finishedAt: facts.finishedAt,
  });
  const finished = phase === "finished";
  const finishedAt = finished ? facts.finishedAt : null;
  return {
    provider: "gitlab",
    kind: "job",
    phase,
    status,
    providerStatus: facts.providerStatus,
    repository: { id: facts.projectId, fullName: facts.fullName, url: webUrl },
    run: {
      id: runId,
      name: facts.runName,
      // a job hook names neither the pipeline's iid nor its source: a pipeline hook's job
      // events leave them out too, so both hooks make the same event of the same state
      number: null,
      attempt: 1,
      url: webUrl === null ? null : `${webUrl}/-/pipelines/${runId}`,
      trigger: null,
    },
    job: {
      id: jobId,
      name: facts.jobName,
      url: webUrl === null ? null : `${webUrl}/-/jobs/${jobId}`,
      stage: facts.stage,
      runnerName: facts.runnerName,
      allowFailure: facts.allowFailure,
    },
    ref: { ...facts.ref, sha },
    commit: {
      sha,
      title: facts.commitTitle,
      url: webUrl === null ? null : `${webUrl}/-/commit/${sha}`,
      author: facts.author,
    },
    actor: facts.actor,
    createdAt: facts.createdAt,
    startedAt: facts.startedAt,
    finishedAt,
    // A retried job gets a new build_id, so within one job the newest time names the state.
    updatedAt: latestTime([facts.createdAt, facts.startedAt, finishedAt]),
    // build_duration of a running job is the time so far; only a finished job's is final.
    durationMs: finished ? facts.durationMs : null,
  };
}

/** Job Hook / Build Hook (object_kind "build") → one job event. */
export function jobData(payload: JsonObject): BuildEventData {
  const project = objectAt(payload, "project");
  const commit = objectAt(payload, "commit");
  const runner = objectAt(payload, "runner");

  const jobId = requiredId(payload, "build_id", "payload");
  const jobName = requiredString(payload, "build_name", "payload");
  const providerStatus = requiredString(payload, "build_status", "payload");
  // Old GitLab versions put the pipeline id in commit.id (it was never the commit sha), and
  // some sent no pipeline_id at all.
  const runId = idAt(payload, "pipeline_id") ?? idAt(commit, "id");
  if (runId === null) throw new PayloadError("payload.pipeline_id is missing or not an id");
  const sha = stringAt(payload, "sha") ?? stringAt(commit, "sha");
  if (sha === null) throw new PayloadError("payload.sha is missing or not a string");
  const projectId = idAt(payload, "project_id") ?? idAt(project, "id");
  if (projectId === null) throw new PayloadError("payload.project_id is missing or not an id");
  const webUrl = stringAt(project, "web_url") ?? stringAt(objectAt(payload, "repository"), "homepage");

  return jobEventData({
    projectId,
    fullName: repositoryPath(payload, webUrl),
    webUrl,
    runId,
    // In job hooks the `commit` object describes the pipeline: commit.name is its name.
    runName: stringAt(commit, "name") ?? DEFAULT_PIPELINE_NAME,
    jobId,
    jobName,
    stage: stringAt(payload, "build_stage"),
    providerStatus,
    runnerName: stringAt(runner, "description"),
    allowFailure: payload["build_allow_failure"] === true,
    ref: jobRef(stringAt(payload, "ref"), payload["tag"]),
    sha,
    commitTitle: firstLine(stringAt(commit, "message")),
    author: person(
      stringAt(commit, "author_name"),
      emailAt(commit, "author_email"),
      usernameFromAuthorUrl(stringAt(commit, "author_url")),
    ),
    actor: actorOf(payload),
    createdAt: parseGitlabTime(payload["build_created_at"]),
    startedAt: parseGitlabTime(payload["build_started_at"]),
    finishedAt: parseGitlabTime(payload["build_finished_at"]),
    durationMs: secondsToMs(payload, "build_duration"),
  });
}
