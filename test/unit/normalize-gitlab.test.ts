import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { parseBuildEvent } from "../../src/events/build-event.ts";
import type { BuildEvent } from "../../src/events/schema.ts";
import { PayloadError } from "../../src/normalize/errors.ts";
import { pathFromSshUrl, usernameFromAuthorUrl } from "../../src/normalize/gitlab/job.ts";
import { GITLAB_STATUS_TABLE, normalizeGitlab, parseGitlabTime } from "../../src/normalize/gitlab.ts";

const FIXTURES = new URL("../fixtures/webhooks/", import.meta.url);

type Json = Record<string, unknown>;

function fixture(path: string): Json {
  return JSON.parse(readFileSync(new URL(path, FIXTURES), "utf8")) as Json;
}

function normalizeAll(
  event: string,
  payload: unknown,
  deliveryId: string | null = "delivery-1",
): BuildEvent[] {
  const result = normalizeGitlab({ event, deliveryId, payload });
  assert.ok(result.handled, `${event} should be handled`);
  // The normalizer validates already; validating again guards against that step being dropped.
  for (const built of result.events) assert.deepEqual(parseBuildEvent(built), built);
  return [...result.events];
}

/**
 * The hook's own event. A finished pipeline's hook also tells its finished jobs, before its
 * own event: those are job events of the same run.
 */
function normalizeOne(event: string, payload: unknown, deliveryId: string | null = "delivery-1"): BuildEvent {
  const events = normalizeAll(event, payload, deliveryId);
  const built = events.at(-1)!;
  const jobs = events.slice(0, -1);
  if (built.data.kind !== "pipeline") assert.equal(jobs.length, 0);
  for (const job of jobs) {
    assert.equal(job.type, "build.job.finished.v1");
    assert.equal(job.subject, built.subject);
  }
  return built;
}

/** Projects `actual` onto the keys `expected` names, so one deepEqual shows every difference. */
function project(actual: unknown, expected: unknown): unknown {
  if (typeof expected !== "object" || expected === null || Array.isArray(expected)) return actual;
  if (typeof actual !== "object" || actual === null) return actual;
  const source = actual as Json;
  return Object.fromEntries(
    Object.entries(expected).map(([key, value]) => [key, project(source[key], value)]),
  );
}

function assertFields(actual: BuildEvent, expected: Json): void {
  assert.deepEqual(project(actual, expected), expected);
}

/** X-Gitlab-Event each fixture is sent with; job.nuecagram-real.canceled was recorded as "Push Hook" by mistake. */
const HEADER_BY_PREFIX: Record<string, string> = {
  pipeline: "Pipeline Hook",
  job: "Job Hook",
  build: "Build Hook",
  deployment: "Deployment Hook",
  push: "Push Hook",
};

const GITLAB_TEST_REPO = {
  id: "1",
  fullName: "gitlab-org/gitlab-test",
  url: "http://192.168.64.1:3005/gitlab-org/gitlab-test",
};
const DOC_PIPELINE_COMMIT = {
  sha: "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
  title: "test",
  url: "http://example.com/gitlab-org/gitlab-test/commit/bcbb5ec396a2c0f828686f14fac9b80b780504f2",
  author: { name: "User", email: "user@gitlab.com", username: null },
};
const DOC_PIPELINE_TIMES = {
  createdAt: "2016-08-12T15:23:28.000Z",
  startedAt: "2016-08-12T15:24:56.000Z",
  finishedAt: "2016-08-12T15:26:29.000Z",
  updatedAt: "2016-08-12T15:26:29.000Z",
  durationMs: 63_000,
};
const CUSTOMER_APP = {
  id: "105",
  fullName: "android-team/customer-app",
  url: "https://gitlab.com/android-team/customer-app",
};
const CUSTOMER_APP_SHA = "e2b9fff8bb1f4a7c7036b348963358bd74457cc2";
const CUSTOMER_APP_COMMIT = {
  sha: CUSTOMER_APP_SHA,
  title: "Merge branch 'ci-debug' into 'main'",
  url: `https://gitlab.com/android-team/customer-app/-/commit/${CUSTOMER_APP_SHA}`,
  author: { name: "raquezha", email: null, username: null },
};
// job hooks link the commit author's profile (author_url), which names the username
const CUSTOMER_APP_JOB_COMMIT = {
  ...CUSTOMER_APP_COMMIT,
  author: { name: "raquezha", email: null, username: "raquezha" },
};
const RAQUEZHA = { name: "raquezha", email: null, username: "raquezha" };
const CUSTOMER_APP_PIPELINE_RUN = {
  id: "53479",
  name: "pipeline",
  number: 2923,
  attempt: 1,
  url: "https://gitlab.com/android-team/customer-app/-/pipelines/53479",
  trigger: "web",
};
const DISPATCHER = {
  id: "282",
  fullName: "android-team/tindahannimama/dispatcher-app",
  url: "https://gitlab.com/android-team/dispatcher-app",
};
const DISPATCHER_TAG = {
  name: "t2_dispatcher_review_vR.13",
  type: "tag",
  sha: "a811f8ab22f7c28183a28a595b034ec8bc85b935",
  pullRequest: null,
};
const DISPATCHER_RUN = {
  id: "53093",
  name: "pipeline",
  number: null,
  url: "https://gitlab.com/android-team/dispatcher-app/-/pipelines/53093",
};
const DEPLOY_REPO = {
  id: "30",
  fullName: "root/test-deployment-webhooks",
  url: "http://10.126.0.2:3000/root/test-deployment-webhooks",
};
const DEPLOY_SHA = "279484c09fbe69ededfced8c1bb6e6d24616b468";
const DEPLOY_COMMON = {
  type: "build.deployment.finished.v1",
  // the deploying job's id, prefixed: job 796 is not pipeline 796
  subject: "gitlab/30/job:796",
  time: "2021-04-28T19:50:00.000Z",
  data: {
    kind: "deployment",
    phase: "finished",
    status: "success",
    providerStatus: "success",
    repository: DEPLOY_REPO,
    run: {
      id: "job:796",
      name: "staging",
      url: "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
    },
    commit: {
      sha: DEPLOY_SHA,
      title: "Add new file",
      url: `http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/${DEPLOY_SHA}`,
      author: null,
    },
    createdAt: null,
    startedAt: null,
    finishedAt: "2021-04-28T19:50:00.000Z",
    updatedAt: "2021-04-28T19:50:00.000Z",
    durationMs: null,
  },
};

/** What each handled fixture must normalize to, read off the fixture by hand. */
const EXPECTED: Record<string, Json> = {
  "pipeline.doc.1.json": {
    type: "build.pipeline.finished.v1",
    source: GITLAB_TEST_REPO.url,
    subject: "gitlab/1/31",
    time: "2016-08-12T15:26:29.000Z",
    deliveryid: "delivery-1",
    data: {
      provider: "gitlab",
      kind: "pipeline",
      phase: "finished",
      status: "success",
      providerStatus: "success",
      repository: GITLAB_TEST_REPO,
      run: {
        id: "31",
        name: "Pipeline for branch: master",
        number: 3,
        attempt: 1,
        url: "http://example.com/gitlab-org/gitlab-test/-/pipelines/31",
        trigger: "merge_request_event",
      },
      ref: { name: "master", type: "branch", sha: DOC_PIPELINE_COMMIT.sha, pullRequest: 1 },
      commit: DOC_PIPELINE_COMMIT,
      actor: { name: "Administrator", email: "user_email@gitlab.com", username: "root" },
      ...DOC_PIPELINE_TIMES,
    },
  },
  "pipeline.gitlab4j.success.json": {
    type: "build.pipeline.finished.v1",
    subject: "gitlab/1/31",
    data: {
      status: "success",
      repository: GITLAB_TEST_REPO,
      run: { id: "31", name: "Pipeline for branch: master", number: 1 },
      ref: { name: "master", type: "branch", sha: DOC_PIPELINE_COMMIT.sha, pullRequest: 1 },
      // ISO "Z" timestamps parse to the same instants as the doc's "UTC" style.
      ...DOC_PIPELINE_TIMES,
    },
  },
  "pipeline.go-gitlab.1.json": {
    type: "build.pipeline.finished.v1",
    data: {
      status: "success",
      providerStatus: "success",
      run: {
        id: "31",
        name: "pipeline",
        number: 123,
        url: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31",
        trigger: "merge_request_event",
      },
      actor: { name: "User1", email: "user1@example.com", username: "user1" },
      ...DOC_PIPELINE_TIMES,
    },
  },
  "pipeline.jenkins-gitlab-plugin.success.json": {
    type: "build.pipeline.finished.v1",
    data: {
      status: "success",
      repository: GITLAB_TEST_REPO,
      run: { id: "31", name: "pipeline", number: null, trigger: null },
      ref: { name: "master", type: "branch", pullRequest: null },
      actor: { name: "Administrator", email: null, username: "root" },
      ...DOC_PIPELINE_TIMES,
    },
  },
  "pipeline.nuecagram-real.canceled.json": {
    type: "build.pipeline.finished.v1",
    subject: "gitlab/105/53479",
    data: {
      status: "canceled",
      providerStatus: "canceled",
      repository: CUSTOMER_APP,
      run: CUSTOMER_APP_PIPELINE_RUN,
      ref: { name: "main", type: "branch", sha: CUSTOMER_APP_SHA, pullRequest: null },
      commit: CUSTOMER_APP_COMMIT,
      actor: RAQUEZHA,
      createdAt: "2024-06-19T02:20:18.000Z",
      startedAt: "2024-06-19T03:05:36.000Z",
      finishedAt: "2024-06-19T03:06:41.000Z",
      updatedAt: "2024-06-19T03:06:41.000Z",
      durationMs: 64_000,
    },
  },
  "pipeline.nuecagram-real.failed.json": {
    type: "build.pipeline.finished.v1",
    data: {
      // sent while the cancel spreads: status "failed", detailed_status "canceled" (GitLab's
      // own pages say canceled), then canceled.json with the same times
      status: "canceled",
      providerStatus: "failed",
      repository: CUSTOMER_APP,
      run: CUSTOMER_APP_PIPELINE_RUN,
      commit: CUSTOMER_APP_COMMIT,
      finishedAt: "2024-06-19T03:06:41.000Z",
      durationMs: 64_000,
    },
  },
  "pipeline.nuecagram-real.running.json": {
    type: "build.pipeline.started.v1",
    time: "2024-06-19T03:05:35.000Z",
    data: {
      phase: "started",
      status: "running",
      providerStatus: "running",
      repository: CUSTOMER_APP,
      run: CUSTOMER_APP_PIPELINE_RUN,
      // finished_at and duration belong to the previous attempt of this retried pipeline.
      createdAt: "2024-06-19T02:20:18.000Z",
      startedAt: null,
      finishedAt: null,
      updatedAt: "2024-06-19T03:05:35.000Z",
      durationMs: null,
    },
  },
  "pipeline.unattributed-real-11.8.0.failed.json": {
    type: "build.pipeline.finished.v1",
    subject: "gitlab/2990/162",
    data: {
      // detailed_status says "passed"; status wins.
      status: "failure",
      providerStatus: "failed",
      repository: {
        id: "2990",
        fullName: "peiyou_like_shuangshi_web/blackboard",
        url: "https://git.100tal.com/peiyou_like_shuangshi_web/blackboard",
      },
      run: {
        id: "162",
        name: "pipeline",
        number: null,
        url: "https://git.100tal.com/peiyou_like_shuangshi_web/blackboard/-/pipelines/162",
      },
      ref: { name: "ci-test", type: "branch", sha: "87fe863df526efe4bc8e1084b3dcc7804cf1298d" },
      commit: {
        title: "Merge branch 'shiying_dev' into 'master'",
        author: { name: "zengyong", email: "zengyong@100tal.com", username: null },
      },
      actor: { name: "胡海涛", email: null, username: "huhaitao" },
      startedAt: null,
      finishedAt: "2019-03-25T11:58:32.000Z",
      durationMs: 0,
    },
  },
  "job.doc.1.json": {
    type: "build.job.queued.v1",
    subject: "gitlab/380/2366",
    time: "2021-02-23T02:41:37.886Z",
    data: {
      kind: "job",
      phase: "queued",
      status: "queued",
      providerStatus: "created",
      repository: { id: "380", fullName: "gitlab-org/gitlab-test", url: GITLAB_TEST_REPO.url },
      run: {
        id: "2366",
        name: "Build pipeline",
        number: null,
        attempt: 1,
        url: `${GITLAB_TEST_REPO.url}/-/pipelines/2366`,
      },
      job: {
        id: "1977",
        name: "test",
        stage: "test",
        url: `${GITLAB_TEST_REPO.url}/-/jobs/1977`,
        runnerName: "shared-runners-manager-6.gitlab.com",
        allowFailure: false,
      },
      ref: {
        name: "gitlab-script-trigger",
        type: "branch",
        sha: "2293ada6b400935a1378653304eaf6221e0fdb8f",
        pullRequest: null,
      },
      // commit.id is 2366, the pipeline id: the sha must come from `sha`.
      commit: {
        sha: "2293ada6b400935a1378653304eaf6221e0fdb8f",
        title: "test",
        author: { name: "User", email: "user@gitlab.com", username: null },
      },
      actor: { name: "User", email: "user@gitlab.com", username: null },
      createdAt: "2021-02-23T02:41:37.886Z",
      startedAt: null,
      finishedAt: null,
      durationMs: null,
    },
  },
  "build.go-gitlab.1.json": {
    type: "build.job.queued.v1",
    subject: "gitlab/380/2366",
    data: {
      status: "queued",
      providerStatus: "created",
      // No project object: the path comes from repository.homepage.
      repository: { id: "380", fullName: "gitlab-org/gitlab-test", url: GITLAB_TEST_REPO.url },
      run: { id: "2366", name: "pipeline" },
      job: { id: "1977", name: "test", stage: "test", url: `${GITLAB_TEST_REPO.url}/-/jobs/1977` },
      commit: { sha: "2293ada6b400935a1378653304eaf6221e0fdb8f" },
      actor: { name: "User1", email: "user1@example.com", username: "user1" },
      createdAt: "2021-02-23T02:41:37.886Z",
    },
  },
  "job.dxvcs2git-real.1.json": {
    type: "build.job.queued.v1",
    // GitLab 8.x: no pipeline_id, and commit.id is the pipeline id.
    subject: "gitlab/2/204",
    time: "1970-01-01T00:00:00Z",
    data: {
      status: "queued",
      providerStatus: "pending",
      repository: { id: "2", fullName: "XPF/XPF", url: "http://gitserver/XPF/XPF" },
      run: { id: "204", name: "pipeline", url: "http://gitserver/XPF/XPF/-/pipelines/204" },
      job: {
        id: "480",
        name: "test_job",
        stage: "test",
        url: "http://gitserver/XPF/XPF/-/jobs/480",
        runnerName: null,
        allowFailure: false,
      },
      ref: { name: "2016.1", type: "branch", sha: "6b9035d63118addc7608c23f36071a650e85fef9" },
      commit: {
        sha: "6b9035d63118addc7608c23f36071a650e85fef9",
        title: "[a:filippov t:8971] T409074",
        author: { name: "filippov", email: "dmitry.filippov@devexpress.com", username: null },
      },
      createdAt: null,
      updatedAt: null,
    },
  },
  "job.gitlab4j.running.json": {
    type: "build.job.started.v1",
    // project_id (3115610) wins over project.id (380): the fixture disagrees with itself.
    subject: "gitlab/3115610/2366",
    data: {
      phase: "started",
      status: "running",
      repository: { id: "3115610", fullName: "gitlab-org/gitlab-test" },
      job: { id: "214655258", name: "build1", stage: "build" },
      ref: { name: "master", type: "branch", sha: "a890bee24574603c522c756b9346649fbec4c812" },
      createdAt: "2019-05-17T17:09:21.000Z",
      startedAt: "2019-05-17T18:09:21.000Z",
      // build_finished_at is set on a running job here; a running job has not finished.
      finishedAt: null,
      updatedAt: "2019-05-17T18:09:21.000Z",
      durationMs: null,
    },
  },
  "job.go-gitlab.1.json": {
    type: "build.job.finished.v1",
    subject: "gitlab/31537070/743121198",
    data: {
      status: "success",
      repository: {
        id: "31537070",
        fullName: "jsmithy2/release-tools-fake",
        url: "https://gitlab.com/jsmithy2/release-tools-fake",
      },
      run: { id: "743121198", name: "Build pipeline" },
      job: {
        id: "3580121225",
        name: "auto_deploy:start",
        stage: "coordinated:tag",
        url: "https://gitlab.com/jsmithy2/release-tools-fake/-/jobs/3580121225",
        runnerName: "4-blue.shared.runners-manager.gitlab.com/default",
      },
      ref: { name: "main", type: "branch", sha: "95d49d1efbd941908580e79d65e4b5ecaf4a8305" },
      createdAt: "2023-01-10T13:50:02.000Z",
      startedAt: "2023-01-10T13:50:05.000Z",
      finishedAt: "2023-01-10T13:50:54.000Z",
      durationMs: 49_504,
    },
  },
  "job.nuecagram-real.created.json": {
    type: "build.job.queued.v1",
    data: {
      status: "queued",
      providerStatus: "created",
      repository: CUSTOMER_APP,
      run: { id: "53479", name: "pipeline" },
      job: { id: "480899", name: "prepare", stage: "prepare", runnerName: null },
      ref: { name: "main", type: "branch", sha: "123213213123123122312312" },
      commit: { author: { name: "raquezha", email: null, username: "raquezha" } },
      actor: RAQUEZHA,
      updatedAt: "2024-06-19T02:21:01.000Z",
    },
  },
  "job.nuecagram-real.pending.json": {
    type: "build.job.queued.v1",
    data: {
      status: "queued",
      providerStatus: "pending",
      repository: CUSTOMER_APP,
      job: { id: "480899", name: "prepare", runnerName: null },
      ref: { sha: CUSTOMER_APP_SHA },
      updatedAt: "2024-06-19T02:21:01.000Z",
    },
  },
  "job.nuecagram-real.running.json": {
    type: "build.job.started.v1",
    data: {
      status: "running",
      repository: DISPATCHER,
      run: DISPATCHER_RUN,
      job: {
        id: "473579",
        name: "publish-badge",
        stage: "badge",
        runnerName: "Runner 4",
        allowFailure: true,
        url: "https://gitlab.com/android-team/dispatcher-app/-/jobs/473579",
      },
      ref: DISPATCHER_TAG,
      startedAt: "2024-06-11T03:13:06.000Z",
      finishedAt: null,
      durationMs: null,
    },
  },
  "job.nuecagram-real.canceled.json": {
    type: "build.job.finished.v1",
    data: {
      status: "canceled",
      providerStatus: "canceled",
      repository: CUSTOMER_APP,
      job: { id: "480899", name: "prepare", runnerName: "Runner 2" },
      commit: CUSTOMER_APP_JOB_COMMIT,
      actor: RAQUEZHA,
      finishedAt: "2024-06-19T02:21:13.000Z",
      durationMs: 11_979,
    },
  },
  "job.nuecagram-real.failed.json": {
    type: "build.job.finished.v1",
    subject: "gitlab/282/53093",
    data: {
      status: "failure",
      providerStatus: "failed",
      repository: DISPATCHER,
      run: DISPATCHER_RUN,
      // allow_failure does not soften the status; consumers decide what it means.
      job: { id: "473579", name: "publish-badge", stage: "badge", allowFailure: true },
      ref: DISPATCHER_TAG,
      commit: {
        title: "Bump version",
        author: { name: "Razyl Abbygail Vidal", email: null, username: "razylvidal" },
      },
      finishedAt: "2024-06-11T03:13:44.000Z",
      updatedAt: "2024-06-11T03:13:44.000Z",
      durationMs: 38_372,
    },
  },
  "job.nuecagram-real.success.json": {
    type: "build.job.finished.v1",
    data: {
      status: "success",
      repository: DISPATCHER,
      job: { id: "473577", name: "notify:telegram", stage: "notify", runnerName: "Runner 3" },
      ref: DISPATCHER_TAG,
      actor: { name: "Razyl Vidal", email: null, username: "razylvidal" },
      durationMs: 81_801,
    },
  },
  "deployment.doc.1.json": {
    ...DEPLOY_COMMON,
    data: {
      ...DEPLOY_COMMON.data,
      deployment: { id: "15", environment: "staging", url: "https://staging.example.com" },
      ref: { name: null, type: null, sha: DEPLOY_SHA, pullRequest: null },
      actor: { name: "Administrator", email: "admin@example.com", username: "root" },
    },
  },
  "deployment.gitlab4j.success.json": {
    ...DEPLOY_COMMON,
    data: { ...DEPLOY_COMMON.data, deployment: { id: "15", environment: "staging", url: null } },
  },
  "deployment.go-gitlab.1.json": {
    ...DEPLOY_COMMON,
    data: {
      ...DEPLOY_COMMON.data,
      deployment: { id: "15", environment: "staging", url: "https://staging.example.com" },
      ref: { name: "1.0.0", type: null, sha: DEPLOY_SHA, pullRequest: null },
      actor: { name: "User1", email: "admin@example.com", username: "user1" },
    },
  },
};

void describe("normalizeGitlab: every fixture", () => {
  const files = readdirSync(new URL("gitlab/", FIXTURES)).filter((name) => name.endsWith(".json"));

  void it("has an expectation for every handled fixture", () => {
    const handled = files.filter((name) => !name.startsWith("push."));
    assert.deepEqual(handled.sort(), Object.keys(EXPECTED).sort());
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    void it(name, () => {
      const header = HEADER_BY_PREFIX[name.split(".")[0]!]!;
      assertFields(normalizeOne(header, fixture(`gitlab/${name}`)), expected);
    });
  }

  for (const name of files.filter((file) => file.startsWith("push."))) {
    void it(`${name} is not handled`, () => {
      assert.deepEqual(
        normalizeGitlab({ event: "Push Hook", deliveryId: null, payload: fixture(`gitlab/${name}`) }),
        {
          handled: false,
          reason: null,
        },
      );
    });
  }
});

void describe("normalizeGitlab: header and body", () => {
  void it("rejects a header that does not match object_kind, naming both", () => {
    assert.throws(
      () =>
        normalizeGitlab({
          event: "Job Hook",
          deliveryId: null,
          payload: fixture("gitlab/pipeline.doc.1.json"),
        }),
      (error: unknown) =>
        error instanceof PayloadError &&
        error.message === 'X-Gitlab-Event "Job Hook" does not match object_kind "pipeline"',
    );
  });

  void it("rejects a job recorded under the wrong header", () => {
    assert.throws(
      () =>
        normalizeGitlab({
          event: "Pipeline Hook",
          deliveryId: null,
          payload: fixture("gitlab/job.nuecagram-real.canceled.json"),
        }),
      { name: "PayloadError", message: 'X-Gitlab-Event "Pipeline Hook" does not match object_kind "build"' },
    );
  });

  void it("rejects a body without object_kind or that is not an object", () => {
    assert.throws(() => normalizeGitlab({ event: "Deployment Hook", deliveryId: null, payload: {} }), {
      name: "PayloadError",
      message: 'X-Gitlab-Event "Deployment Hook" does not match object_kind (missing)',
    });
    assert.throws(
      () => normalizeGitlab({ event: "Pipeline Hook", deliveryId: null, payload: [1] }),
      PayloadError,
    );
    assert.throws(
      () => normalizeGitlab({ event: "Job Hook", deliveryId: null, payload: null }),
      PayloadError,
    );
  });

  void it("does not handle other hooks, whatever their body", () => {
    for (const event of ["Push Hook", "Tag Push Hook", "Merge Request Hook", "pipeline", ""]) {
      assert.deepEqual(
        normalizeGitlab({ event, deliveryId: null, payload: fixture("gitlab/pipeline.doc.1.json") }),
        { handled: false, reason: null },
      );
    }
  });

  void it("accepts the pre-9.3 Build Hook header for job bodies", () => {
    const payload = fixture("gitlab/job.go-gitlab.1.json");
    const asBuild = normalizeOne("Build Hook", payload);
    assert.deepEqual(asBuild, normalizeOne("Job Hook", payload));
  });

  void it("rejects the gitlab4j object_kind job shape with a clear PayloadError", () => {
    assert.throws(
      () =>
        normalizeGitlab({
          event: "Job Hook",
          deliveryId: null,
          payload: fixture("nonconforming/gitlab.job.gitlab4j-object_kind-job.json"),
        }),
      { name: "PayloadError", message: 'X-Gitlab-Event "Job Hook" does not match object_kind "job"' },
    );
  });

  void it("rejects the jenkins status-failure pipeline for its missing project id", () => {
    const payload = fixture("nonconforming/gitlab.pipeline.jenkins-gitlab-plugin-status-failure.json");
    assert.throws(() => normalizeGitlab({ event: "Pipeline Hook", deliveryId: null, payload }), {
      name: "PayloadError",
      message: "project.id is missing or not an id",
    });
  });

  void it("maps the invented status 'failure' to unknown, keeping the raw value", () => {
    const payload = fixture("nonconforming/gitlab.pipeline.jenkins-gitlab-plugin-status-failure.json");
    const withProjectId = { ...payload, project: { ...(payload["project"] as Json), id: 1 } };
    assertFields(normalizeOne("Pipeline Hook", withProjectId), {
      type: "build.pipeline.finished.v1",
      data: {
        phase: "finished",
        status: "unknown",
        providerStatus: "failure",
        finishedAt: DOC_PIPELINE_TIMES.finishedAt,
      },
    });
  });

  void it("names missing required fields", () => {
    const job = fixture("gitlab/job.go-gitlab.1.json");
    assert.throws(() => normalizeOne("Job Hook", { ...job, build_id: null }), {
      name: "PayloadError",
      message: "payload.build_id is missing or not an id",
    });
    const pipeline = fixture("gitlab/pipeline.doc.1.json");
    assert.throws(() => normalizeOne("Pipeline Hook", { ...pipeline, object_attributes: "x" }), {
      name: "PayloadError",
      message: "object_attributes is missing",
    });
  });
});

void describe("normalizeGitlab: event ids", () => {
  void it("gives the same payload the same id, whatever the delivery id", () => {
    const payload = fixture("gitlab/pipeline.nuecagram-real.failed.json");
    const first = normalizeOne("Pipeline Hook", payload, "a");
    const again = normalizeOne("Pipeline Hook", structuredClone(payload), "b");
    assert.equal(first.id, again.id);
    assert.equal(again.deliveryid, "b");
  });

  void it("gives each state of a retried pipeline (failed → running → success) its own id", () => {
    const failed = normalizeOne("Pipeline Hook", fixture("gitlab/pipeline.nuecagram-real.failed.json"));
    const running = normalizeOne("Pipeline Hook", fixture("gitlab/pipeline.nuecagram-real.running.json"));
    const successPayload = fixture("gitlab/pipeline.nuecagram-real.failed.json");
    const attributes = successPayload["object_attributes"] as Json;
    successPayload["object_attributes"] = {
      ...attributes,
      status: "success",
      finished_at: "2024-06-19 03:20:00 UTC",
    };
    const success = normalizeOne("Pipeline Hook", successPayload);

    assert.equal(new Set([failed.subject, running.subject, success.subject]).size, 1, "one run key");
    assert.equal(new Set([failed.id, running.id, success.id]).size, 3, "three states, three ids");
    assert.equal(success.data.updatedAt, "2024-06-19T03:20:00.000Z");
  });

  void it("gives a pipeline that fails twice in a row (after a retry) two ids", () => {
    const first = fixture("gitlab/pipeline.nuecagram-real.failed.json");
    const second = structuredClone(first);
    const attributes = second["object_attributes"] as Json;
    second["object_attributes"] = { ...attributes, finished_at: "2024-06-19 04:00:00 UTC" };
    second["builds"] = [];
    assert.notEqual(normalizeOne("Pipeline Hook", first).id, normalizeOne("Pipeline Hook", second).id);
  });

  void it("tells the job states created and pending apart although their times are equal", () => {
    const created = normalizeOne("Job Hook", fixture("gitlab/job.nuecagram-real.created.json"));
    const pendingPayload = fixture("gitlab/job.nuecagram-real.created.json");
    const pending = normalizeOne("Job Hook", { ...pendingPayload, build_status: "pending" });
    assert.equal(created.data.updatedAt, pending.data.updatedAt);
    assert.notEqual(created.id, pending.id);
  });
});

void describe("normalizeGitlab: status mapping", () => {
  const job = fixture("gitlab/job.nuecagram-real.running.json");
  const cases: [string, string, string][] = [
    ["created", "queued", "queued"],
    ["waiting_for_resource", "queued", "queued"],
    ["preparing", "queued", "queued"],
    ["pending", "queued", "queued"],
    ["scheduled", "queued", "queued"],
    ["manual", "queued", "manual"],
    ["running", "started", "running"],
    ["success", "finished", "success"],
    ["failed", "finished", "failure"],
    ["canceled", "finished", "canceled"],
    ["canceling", "finished", "canceled"],
    ["skipped", "finished", "skipped"],
    // Unknown statuses take their phase from the times the payload carries (started here).
    ["constructor", "started", "unknown"],
    ["__proto__", "started", "unknown"],
  ];
  for (const [raw, phase, status] of cases) {
    void it(`${raw} → ${phase} / ${status}`, () => {
      const built = normalizeOne("Job Hook", { ...job, build_status: raw });
      assert.deepEqual(
        [built.data.phase, built.data.status, built.data.providerStatus],
        [phase, status, raw],
      );
      assert.equal(built.type, `build.job.${phase}.v1`);
    });
  }

  void it("tests exactly the statuses the exported table documents, plus deployment-only ones", () => {
    const tested = cases.map(([raw]) => raw).filter((raw) => Object.hasOwn(GITLAB_STATUS_TABLE, raw));
    const deploymentOnly = ["blocked"];
    const callbackOnly = ["waiting_for_callback"];
    assert.deepEqual(
      [...tested, ...deploymentOnly, ...callbackOnly].sort(),
      Object.keys(GITLAB_STATUS_TABLE).sort(),
    );
    assert.deepEqual(GITLAB_STATUS_TABLE["blocked"], { phase: "queued", status: "action_required" });
    assert.deepEqual(GITLAB_STATUS_TABLE["waiting_for_callback"], { phase: "queued", status: "queued" });
  });

  void it("maps a blocked deployment (waiting for approval) to queued / action_required", () => {
    const built = normalizeOne("Deployment Hook", {
      ...fixture("gitlab/deployment.doc.1.json"),
      status: "blocked",
    });
    assertFields(built, {
      type: "build.deployment.queued.v1",
      data: { status: "action_required", createdAt: "2021-04-28T19:50:00.000Z", finishedAt: null },
    });
  });

  void it("lets status win over detailed_status", () => {
    const payload = fixture("gitlab/pipeline.go-gitlab.1.json");
    const attributes = payload["object_attributes"] as Json;
    const warned = {
      ...payload,
      object_attributes: { ...attributes, detailed_status: "passed with warnings" },
    };
    assert.equal(normalizeOne("Pipeline Hook", warned).data.status, "success");
  });
});

void describe("parseGitlabTime", () => {
  const valid: [string, string][] = [
    ["2016-08-12 15:23:28 UTC", "2016-08-12T15:23:28.000Z"],
    ["2021-04-28 21:50:00 +0200", "2021-04-28T19:50:00.000Z"],
    ["2021-04-28 21:50:00 -0330", "2021-04-29T01:20:00.000Z"],
    ["2021-02-23T02:41:37.886Z", "2021-02-23T02:41:37.886Z"],
    ["2021-02-23T02:41:37Z", "2021-02-23T02:41:37.000Z"],
    ["2016-08-12T17:23:21+02:00", "2016-08-12T15:23:21.000Z"],
    ["2024-05-20T04:51:32+00:00", "2024-05-20T04:51:32.000Z"],
    ["2023-01-10T13:50:02.123456789Z", "2023-01-10T13:50:02.123Z"],
    ["2024-02-29 00:00:00 UTC", "2024-02-29T00:00:00.000Z"],
    ["2024-12-31 23:30:00 -0100", "2025-01-01T00:30:00.000Z"],
    ["0050-01-01T00:00:00Z", "0050-01-01T00:00:00.000Z"],
  ];
  for (const [input, output] of valid) {
    void it(`parses ${input}`, () => assert.equal(parseGitlabTime(input), output));
  }

  const invalid: unknown[] = [
    null,
    undefined,
    1_471_015_408,
    "",
    "yesterday",
    "2016-08-12",
    "2016-08-12 15:23:28",
    "2023-02-29 00:00:00 UTC",
    "2016-13-01 00:00:00 UTC",
    "2016-08-12 24:00:00 UTC",
    "2016-08-12 15:60:00 UTC",
    "2016-08-12 15:23:28 +2500",
    "2016-08-12 15:23:28 CEST",
    "0000-01-01T00:00:00+01:00",
  ];
  for (const input of invalid) {
    void it(`returns null for ${JSON.stringify(input) ?? "undefined"}`, () =>
      assert.equal(parseGitlabTime(input), null));
  }
});

void describe("normalizeGitlab: merge request refs", () => {
  const pipeline = fixture("gitlab/pipeline.doc.1.json");
  const mergeRequest = pipeline["merge_request"] as Json;

  void it("a merge request pipeline of this project builds its source branch", () => {
    const { ref } = normalizeOne("Pipeline Hook", pipeline).data;
    assert.deepEqual([ref.name, ref.type, ref.pullRequest], ["master", "branch", 1]);
  });

  void it("a fork's merge request pipeline run here is on no branch of this project", () => {
    const fork = { ...pipeline, merge_request: { ...mergeRequest, source_project_id: 4242 } };
    const { ref } = normalizeOne("Pipeline Hook", fork).data;
    assert.deepEqual([ref.name, ref.type, ref.pullRequest], [null, null, 1]);
  });

  void it("a job on refs/merge-requests/<iid>/head (or merge, train) is on no branch", () => {
    const job = fixture("gitlab/job.nuecagram-real.running.json");
    for (const hidden of ["head", "merge", "train"]) {
      const { ref } = normalizeOne("Job Hook", { ...job, ref: `refs/merge-requests/77/${hidden}` }).data;
      assert.deepEqual([ref.name, ref.type, ref.pullRequest], [null, null, 77]);
    }
    assert.equal(
      normalizeOne("Job Hook", { ...job, ref: "refs/merge-requests/x" }).data.ref.name,
      "refs/merge-requests/x",
    );
  });
});

void describe("normalizeGitlab: repository path of old job hooks", () => {
  const job = fixture("gitlab/job.go-gitlab.1.json");
  const repository = job["repository"] as Json;

  void it("takes it from the SSH URL, which a relative URL root does not prefix", () => {
    const underRoot = {
      ...job,
      repository: {
        ...repository,
        homepage: "https://host.example/gitlab/jsmithy2/release-tools-fake",
        git_http_url: "https://host.example/gitlab/jsmithy2/release-tools-fake.git",
        git_ssh_url: "git@host.example:jsmithy2/release-tools-fake.git",
      },
    };
    assert.equal(normalizeOne("Job Hook", underRoot).data.repository.fullName, "jsmithy2/release-tools-fake");
  });

  void it("reads both SSH URL forms and refuses what is no project path", () => {
    assert.equal(pathFromSshUrl("git@gitlab.com:a/b/c.git"), "a/b/c");
    assert.equal(pathFromSshUrl("ssh://git@gitlab.example:2222/a/b.git"), "a/b");
    assert.equal(pathFromSshUrl("git@gitlab.com:b.git"), null);
    assert.equal(pathFromSshUrl("https://gitlab.com/a/b.git"), null);
    assert.equal(pathFromSshUrl(null), null);
  });
});

void describe("normalizeGitlab: a job's commit author", () => {
  void it("has the username of the profile GitLab links, under a relative URL root too", () => {
    // GitLab.com redacts the e-mail: the username is all that finds the author in `people`
    const payload = fixture("gitlab/job.nuecagram-real.failed.json");
    assert.deepEqual(normalizeOne("Job Hook", payload).data.commit.author, {
      name: "Razyl Abbygail Vidal",
      email: null,
      username: "razylvidal",
    });
    assert.equal(usernameFromAuthorUrl("https://example.com/gitlab/alice.b-c_d/"), "alice.b-c_d");
  });

  void it("has none when GitLab links a mailto: (the e-mail belongs to no user)", () => {
    assert.equal(usernameFromAuthorUrl("mailto:someone@example.com"), null);
    assert.equal(usernameFromAuthorUrl("https://gitlab.com/"), null);
    assert.equal(usernameFromAuthorUrl("not a url"), null);
    assert.equal(usernameFromAuthorUrl(null), null);
  });
});

void describe("normalizeGitlab: deployment run ids", () => {
  void it("name the deploying job, else the deployment, never a bare id a pipeline could have", () => {
    const payload = fixture("gitlab/deployment.doc.1.json");
    assert.equal(normalizeOne("Deployment Hook", payload).data.run.id, "job:796");
    const withoutJob = { ...payload, deployable_id: null };
    assert.equal(normalizeOne("Deployment Hook", withoutJob).data.run.id, "deployment:15");
  });
});

void describe("normalizeGitlab: a finished pipeline's jobs", () => {
  /**
   * The real job hook of job 480899 (pipeline 53479, canceled, then retried as 481131) as the
   * pipeline hook lists a build: the same fields under the names `builds` uses. GitLab lists
   * such a retried build in the pipeline hooks of older versions.
   */
  function withJobHookBuild(pipeline: Json, job: Json): Json {
    const build = {
      id: job["build_id"],
      stage: job["build_stage"],
      name: job["build_name"],
      status: job["build_status"],
      created_at: job["build_created_at"],
      started_at: job["build_started_at"],
      finished_at: job["build_finished_at"],
      duration: job["build_duration"],
      queued_duration: job["build_queued_duration"],
      failure_reason: job["build_failure_reason"],
      allow_failure: job["build_allow_failure"],
      user: job["user"],
      runner: job["runner"],
    };
    return { ...pipeline, builds: [...(pipeline["builds"] as unknown[]), build] };
  }

  void it("are the events the job hooks of the same states make, with the same ids", () => {
    const jobHook = fixture("gitlab/job.nuecagram-real.canceled.json");
    const pipelineHook = withJobHookBuild(fixture("gitlab/pipeline.nuecagram-real.failed.json"), jobHook);
    const fromJobHook = normalizeOne("Job Hook", jobHook, "job-delivery");
    const fromPipelineHook = normalizeAll("Pipeline Hook", pipelineHook, "job-delivery").find(
      (event) => event.data.job?.id === "480899",
    );
    assert.ok(fromPipelineHook);
    assert.equal(fromPipelineHook.id, fromJobHook.id);
    // only the job hook's author_url names the commit author's username
    assert.deepEqual(fromPipelineHook, {
      ...fromJobHook,
      data: {
        ...fromJobHook.data,
        commit: { ...fromJobHook.data.commit, author: { ...RAQUEZHA, username: null } },
      },
    });
  });

  void it("names every finished build, before the pipeline's own event", () => {
    const events = normalizeAll("Pipeline Hook", fixture("gitlab/pipeline.doc.1.json"));
    assert.deepEqual(
      events.map((event) => [event.type, event.data.job?.name ?? null, event.data.status]),
      [
        ["build.job.finished.v1", "production", "skipped"],
        ["build.job.finished.v1", "test-image", "success"],
        ["build.job.finished.v1", "test-build", "failure"],
        ["build.job.finished.v1", "build-image", "success"],
        // staging is still `created`: its job hooks tell it
        ["build.pipeline.finished.v1", null, "success"],
      ],
    );
    assertFields(events[2]!, {
      subject: "gitlab/1/31",
      data: {
        repository: GITLAB_TEST_REPO,
        run: {
          id: "31",
          // workflow:name, which job hooks send as commit.name
          name: "Pipeline for branch: master",
          number: null,
          attempt: 1,
          url: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31",
          trigger: null,
        },
        job: {
          id: "378",
          name: "test-build",
          url: "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/jobs/378",
          stage: "test",
          runnerName: "shared-runners-manager-6.gitlab.com",
          allowFailure: false,
        },
        // a merge request pipeline's jobs run on refs/merge-requests/1/head, as their hooks say
        ref: { name: null, type: null, sha: DOC_PIPELINE_COMMIT.sha, pullRequest: 1 },
        commit: {
          ...DOC_PIPELINE_COMMIT,
          url: `http://192.168.64.1:3005/gitlab-org/gitlab-test/-/commit/${DOC_PIPELINE_COMMIT.sha}`,
        },
        actor: { name: "Administrator", email: "admin@example.com", username: "root" },
        createdAt: "2016-08-12T15:23:28.000Z",
        startedAt: "2016-08-12T15:26:12.000Z",
        finishedAt: "2016-08-12T15:26:29.000Z",
        updatedAt: "2016-08-12T15:26:29.000Z",
        durationMs: 17_000,
      },
    });
  });

  void it("a branch pipeline's jobs are on its branch or tag", () => {
    const events = normalizeAll("Pipeline Hook", fixture("gitlab/pipeline.nuecagram-real.canceled.json"));
    assert.equal(events.length, 6);
    for (const { data } of events.slice(0, -1)) {
      assert.deepEqual(data.ref, { name: "main", type: "branch", sha: CUSTOMER_APP_SHA, pullRequest: null });
    }
  });

  void it("leaves a running pipeline's jobs to the job hooks and later pipeline hooks", () => {
    const events = normalizeAll("Pipeline Hook", fixture("gitlab/pipeline.nuecagram-real.running.json"));
    assert.deepEqual(
      events.map((event) => event.type),
      ["build.pipeline.started.v1"],
    );
  });

  void it("skips builds without an id, a name or a status, and a `builds` that is no list", () => {
    const pipeline = fixture("gitlab/pipeline.nuecagram-real.failed.json");
    const builds = pipeline["builds"] as Json[];
    const broken = [
      { ...builds[0], id: null },
      { ...builds[1], name: 7 },
      { ...builds[2], status: null },
      "x",
    ];
    assert.equal(normalizeAll("Pipeline Hook", { ...pipeline, builds: broken }).length, 1);
    assert.equal(normalizeAll("Pipeline Hook", { ...pipeline, builds: { 0: builds[0] } }).length, 1);
  });
});
