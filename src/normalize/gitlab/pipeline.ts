import type { BuildEventData } from "../../events/schema.ts";
import { PayloadError } from "../errors.ts";
import {
  actorOf,
  emailAt,
  firstLine,
  integerAt,
  idAt,
  isObject,
  jobRef,
  objectAt,
  pathFromWebUrl,
  person,
  refType,
  requiredId,
  requiredString,
  secondsToMs,
  stringAt,
  type JsonObject,
} from "./fields.ts";
import { jobEventData } from "./job.ts";
import { DEFAULT_PIPELINE_NAME } from "./names.ts";
import { gitlabPhaseAndStatus } from "./status.ts";
import { earliestTime, latestTime, parseGitlabTime } from "./time.ts";

interface BuildTimes {
  readonly started: (string | null)[];
  readonly all: (string | null)[];
}

function buildTimes(payload: JsonObject): BuildTimes {
  const builds = Array.isArray(payload["builds"]) ? (payload["builds"] as unknown[]) : [];
  const started: (string | null)[] = [];
  const all: (string | null)[] = [];
  for (const build of builds) {
    if (!isObject(build)) continue;
    const startedAt = parseGitlabTime(build["started_at"]);
    started.push(startedAt);
    all.push(parseGitlabTime(build["created_at"]), startedAt, parseGitlabTime(build["finished_at"]));
  }
  return { started, all };
}

/** Pipeline Hook (object_kind "pipeline") → one pipeline event. */
export function pipelineData(payload: JsonObject): BuildEventData {
  if (!isObject(payload["object_attributes"])) throw new PayloadError("object_attributes is missing");
  const attributes = objectAt(payload, "object_attributes");
  const project = objectAt(payload, "project");
  const commit = objectAt(payload, "commit");

  const runId = requiredId(attributes, "id", "object_attributes");
  const providerStatus = requiredString(attributes, "status", "object_attributes");
  const sha = requiredString(attributes, "sha", "object_attributes");
  const projectId = requiredId(project, "id", "project");
  const webUrl = stringAt(project, "web_url");
  const fullName = stringAt(project, "path_with_namespace") ?? pathFromWebUrl(webUrl);
  if (fullName === null) throw new PayloadError("project.path_with_namespace is missing");

  const builds = buildTimes(payload);
  const createdAt = parseGitlabTime(attributes["created_at"]);
  const rawFinishedAt = parseGitlabTime(attributes["finished_at"]);
  // While a cancel spreads through the jobs, GitLab sends `status: failed` with
  // `detailed_status: canceled` (its pages already say canceled), then `canceled` with the
  // same times: read as canceled, a canceled pipeline is never announced as broken.
  const canceling = providerStatus === "failed" && attributes["detailed_status"] === "canceled";
  const { phase, status } = gitlabPhaseAndStatus(canceling ? "canceled" : providerStatus, {
    startedAt: earliestTime(builds.started),
    finishedAt: rawFinishedAt,
  });
  const finished = phase === "finished";
  // A retried pipeline keeps its id and reports the previous attempt's finished_at and
  // duration while running again, so both only count once the pipeline is finished.
  const finishedAt = finished ? rawFinishedAt : null;
  const ref = stringAt(attributes, "ref");
  const mergeRequest = payload["merge_request"];
  const sourceProject = isObject(mergeRequest) ? mergeRequest["source_project_id"] : undefined;
  const fromFork = typeof sourceProject === "number" && String(sourceProject) !== projectId;

  return {
    provider: "gitlab",
    kind: "pipeline",
    phase,
    status,
    providerStatus,
    repository: { id: projectId, fullName, url: webUrl },
    run: {
      id: runId,
      name: stringAt(attributes, "name") ?? DEFAULT_PIPELINE_NAME,
      number: integerAt(attributes, "iid"),
      attempt: 1,
      url: stringAt(attributes, "url") ?? (webUrl === null ? null : `${webUrl}/-/pipelines/${runId}`),
      trigger: stringAt(attributes, "source"),
    },
    ref: {
      // a fork's merge request pipeline run in this project builds the fork's branch: its
      // `main` is not this project's `main` (the hook names no fork path to prefix it with)
      name: fromFork ? null : ref,
      type: fromFork ? null : refType(ref, attributes["tag"]),
      sha,
      pullRequest: isObject(mergeRequest) ? integerAt(mergeRequest, "iid") : null,
    },
    commit: {
      sha,
      title: firstLine(stringAt(commit, "title") ?? stringAt(commit, "message")),
      url: stringAt(commit, "url"),
      author: person(
        stringAt(objectAt(commit, "author"), "name"),
        emailAt(objectAt(commit, "author"), "email"),
        null,
      ),
    },
    actor: actorOf(payload),
    createdAt,
    startedAt: earliestTime(builds.started),
    finishedAt,
    // The newest time the payload reports for this state. A new state of the same pipeline
    // (a retry, a late manual job) always carries a newer build or finish time, so it gets a
    // new event id; the same state redelivered carries the same times and the same id.
    updatedAt: latestTime([createdAt, finishedAt, ...builds.all]),
    durationMs: finished ? secondsToMs(attributes, "duration") : null,
  };
}

/**
 * The job events a finished pipeline's hook tells: one for every build in its `builds` that
 * is finished too. A pipeline hook lists its jobs with the fields a job hook sends for the
 * same state (id, status, times, runner, user), so each event is the one the job hook
 * produces, with the same id: JetStream keeps one of the two, and failure notices list the
 * failed jobs when job hooks are off or late. What a build does not carry is taken from the
 * pipeline (its commit, ref and project) or left null (the commit author's username, which
 * only a job hook's author_url names). Builds still running or waiting are left to the job
 * hooks and to the pipeline's later hooks: a finished pipeline names its jobs once, not on
 * every hook while it runs. Older GitLab versions also list the builds that were retried;
 * consumers count only the newest try of each job, as GitLab does.
 */
export function pipelineJobsData(payload: JsonObject, pipeline: BuildEventData): BuildEventData[] {
  if (pipeline.phase !== "finished" || !Array.isArray(payload["builds"])) return [];
  const attributes = objectAt(payload, "object_attributes");
  const commit = objectAt(payload, "commit");
  const author = objectAt(commit, "author");
  const mergeRequest = payload["merge_request"];
  // a merge request pipeline's jobs run on GitLab's hidden refs/merge-requests/<iid>/… ref,
  // which their job hooks name; the pipeline hook names the source branch instead
  const ref = isObject(mergeRequest)
    ? { name: null, type: null, pullRequest: integerAt(mergeRequest, "iid") }
    : jobRef(stringAt(attributes, "ref"), attributes["tag"]);
  const common = {
    projectId: pipeline.repository.id,
    fullName: pipeline.repository.fullName,
    webUrl: pipeline.repository.url,
    runId: pipeline.run.id,
    runName: pipeline.run.name,
    ref,
    sha: pipeline.commit.sha,
    // a job hook's commit title is the first line of the pipeline commit's message
    commitTitle: firstLine(stringAt(commit, "message") ?? stringAt(commit, "title")),
    author: person(stringAt(author, "name"), emailAt(author, "email"), null),
  };
  const jobs: BuildEventData[] = [];
  for (const build of payload["builds"] as unknown[]) {
    if (!isObject(build)) continue;
    const jobId = idAt(build, "id");
    const jobName = stringAt(build, "name");
    const providerStatus = stringAt(build, "status");
    if (jobId === null || jobName === null || providerStatus === null) continue;
    const job = jobEventData({
      ...common,
      jobId,
      jobName,
      stage: stringAt(build, "stage"),
      providerStatus,
      runnerName: stringAt(objectAt(build, "runner"), "description"),
      allowFailure: build["allow_failure"] === true,
      actor: actorOf(build),
      createdAt: parseGitlabTime(build["created_at"]),
      startedAt: parseGitlabTime(build["started_at"]),
      finishedAt: parseGitlabTime(build["finished_at"]),
      durationMs: secondsToMs(build, "duration"),
    });
    if (job.phase === "finished") jobs.push(job);
  }
  return jobs;
}
