import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { parseBuildEvent } from "../../src/events/build-event.ts";
import type { BuildEvent } from "../../src/events/schema.ts";
import { PayloadError } from "../../src/normalize/errors.ts";
import {
  GITHUB_CONCLUSION_TABLE,
  GITHUB_HANDLED_EVENTS,
  GITHUB_STATUS_TABLE,
  normalizeGithub,
} from "../../src/normalize/github.ts";

const FIXTURES = new URL("../fixtures/webhooks/github/", import.meta.url);

function load(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(file, FIXTURES), "utf8")) as Record<string, unknown>;
}

function eventOf(file: string): string {
  return file.split(".")[0]!;
}

function only(event: string, payload: unknown, deliveryId: string | null = "delivery-1"): BuildEvent {
  const result = normalizeGithub({ event, deliveryId, payload });
  assert.equal(result.handled, true, `${event} should be handled`);
  assert.ok(result.handled);
  assert.equal(result.events.length, 1);
  return result.events[0]!;
}

/** Asserts every key present in `expected`, recursively; unlisted keys are not checked. */
function assertSubset(actual: unknown, expected: unknown, path: string): void {
  if (expected !== null && typeof expected === "object") {
    assert.ok(actual !== null && typeof actual === "object", `${path} should be an object`);
    for (const [key, value] of Object.entries(expected)) {
      assertSubset((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
    }
    return;
  }
  assert.equal(actual, expected, path);
}

const SHA_HELLO = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const SHA_COGNI = "a69811586879ea72cb7657e555fcdb45cf96c6d6";
const SHA_OCTO = "3484a3fb816e0859fd6e1cea078d76385ff50625";
const SHA_GEMFILE = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
const SHA_STATUS = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const SHA_ENV = "16c5286e8d9a0629956a28938386b36608707a71";
const HELLO = {
  id: "186853002",
  fullName: "Codertocat/Hello-World",
  url: "https://github.com/Codertocat/Hello-World",
};
const COGNI = {
  id: "1064412804",
  fullName: "derekg1729/test-repo",
  url: "https://github.com/derekg1729/test-repo",
};
const OCTO = {
  id: "300029405",
  fullName: "octo-org/octo-repo",
  url: "https://github.com/octo-org/octo-repo",
};

const HELLO_SUITE_URL = `https://github.com/Codertocat/Hello-World/commit/${SHA_HELLO}/checks?check_suite_id=118578147`;

const helloCheckRun = (status: string, providerStatus: string, phase: string) => ({
  kind: "job",
  phase,
  status,
  providerStatus,
  repository: HELLO,
  // the suite's checks page: check suite payloads name none (and it is no Actions run)
  run: { id: "118578147", name: "octocoders-linter", attempt: 1, url: HELLO_SUITE_URL },
  job: {
    id: "128620228",
    name: "Octocoders-linter",
    url: "https://github.com/Codertocat/Hello-World/runs/128620228",
  },
  ref: { name: "changes", type: "branch", sha: SHA_HELLO, pullRequest: 2 },
  startedAt: "2019-05-15T15:21:12Z",
  finishedAt: phase === "finished" ? "2019-05-15T15:21:12Z" : null,
  updatedAt: "2019-05-15T15:21:12Z",
});

const helloSuiteDone = (branch: string, pullRequest: number | null) => ({
  kind: "pipeline",
  phase: "finished",
  status: "success",
  providerStatus: "success",
  repository: HELLO,
  run: { id: "118578147", name: "octocoders-linter", attempt: 1, number: null, url: HELLO_SUITE_URL },
  ref: { name: branch, type: "branch", sha: SHA_HELLO, pullRequest },
  commit: { sha: SHA_HELLO, title: "Update README.md", author: { name: "Codertocat" } },
  createdAt: "2019-05-15T15:20:31Z",
  finishedAt: "2019-05-15T15:21:14Z",
  updatedAt: "2019-05-15T15:21:14Z",
  durationMs: 43_000,
});

const gemfileSuite = (authorName: string, username: string | null) => ({
  kind: "pipeline",
  phase: "queued",
  status: "queued",
  providerStatus: "queued",
  run: { id: "118578174", name: "octocoders-linter" },
  ref: { name: "master", type: "branch", sha: SHA_GEMFILE, pullRequest: null },
  commit: { title: "Add new gemfile", author: { name: authorName, username } },
  finishedAt: null,
  updatedAt: "2019-05-15T15:20:33Z",
  durationMs: null,
});

const productionDeploy = {
  kind: "deployment",
  phase: "finished",
  status: "success",
  providerStatus: "success",
  repository: HELLO,
  run: { id: "145988746", name: "deploy", attempt: 1 },
  deployment: { id: "145988746", environment: "production", url: null },
  ref: { name: "master", type: "branch", sha: SHA_GEMFILE },
  createdAt: "2019-05-15T15:20:53Z",
  finishedAt: "2019-05-15T15:20:55Z",
  updatedAt: "2019-05-15T15:20:55Z",
};

const commitStatus = (branch: string | null, username: string | null) => ({
  kind: "pipeline",
  phase: "finished",
  status: "success",
  providerStatus: "success",
  run: { id: `${SHA_STATUS}:default`, name: "default", url: null, attempt: 1 },
  ref: { name: branch, type: branch === null ? null : "branch", sha: SHA_STATUS, pullRequest: null },
  commit: {
    title: "Initial commit",
    url: `https://github.com/Codertocat/Hello-World/commit/${SHA_STATUS}`,
    author: { name: "Codertocat", email: "21031067+Codertocat@users.noreply.github.com", username },
  },
  // the commit is no listed branch's head (master's is f95f852): its run is as old as the
  // commit (its committer date), not as its status
  createdAt: "2019-05-15T15:19:25Z",
  finishedAt: "2019-05-15T15:20:55+00:00",
  updatedAt: "2019-05-15T15:20:55+00:00",
});

const codeqlJob = (name: string, phase: string, status: string, providerStatus: string) => ({
  kind: "job",
  phase,
  status,
  providerStatus,
  repository: HELLO,
  run: { id: "2202229078", name: "CodeQL", attempt: 1, url: `${HELLO.url}/actions/runs/2202229078` },
  job: {
    id: "289782451",
    name,
    url: "https://github.com/octo-org/octo-repo/runs/1291536064",
    runnerName: "GitHub Actions 5",
  },
  ref: { name: "main", type: "branch", sha: SHA_OCTO },
});

const finishedLinters = (status: string) => ({
  ...codeqlJob("linters", "finished", status, status),
  createdAt: "2021-08-05T10:33:58Z",
  startedAt: "2021-08-05T10:34:58Z",
  finishedAt: "2021-08-05T10:38:16Z",
  updatedAt: "2021-08-05T10:38:16Z",
  durationMs: 198_000,
});

const envTestWaiting = {
  kind: "job",
  phase: "queued",
  status: "queued",
  providerStatus: "waiting",
  run: { id: "4747967848", name: "Env Test", attempt: 1 },
  job: { id: "12877621891", name: "test", runnerName: null },
  ref: { name: "main", sha: SHA_ENV },
  startedAt: "2023-04-19T21:12:12Z",
  finishedAt: null,
};

const octoRun = (phase: string, status: string, pullRequest: number | null, updatedAt: string) => ({
  kind: "pipeline",
  phase,
  status,
  providerStatus: status === "queued" ? "queued" : status,
  repository: OCTO,
  run: {
    id: "289782451",
    // workflow_run.name is empty here; the workflow's own name is used
    name: "test",
    number: 163,
    attempt: 1,
    url: "https://github.com/octo-org/octo-repo/actions/runs/289782451",
    trigger: "repository_dispatch",
  },
  ref: { name: "master", type: "branch", sha: SHA_OCTO, pullRequest },
  commit: {
    sha: SHA_OCTO,
    title: "build(test): check workflow run event payload",
    url: `${OCTO.url}/commit/${SHA_OCTO}`,
    author: { name: "Matthias Fax", email: "matfax@users.noreply.github.com" },
  },
  actor: { username: "Codertocat" },
  createdAt: "2020-10-05T16:33:24Z",
  startedAt: "2020-10-05T16:33:49Z",
  updatedAt,
});

/** Expected data per fixture, read off each payload by hand. */
// loosely typed on purpose: a subset of BuildEventData, checked field by field at runtime
const EXPECTED: Record<string, object> = {
  "check_run.cogni-real.created.json": {
    kind: "job",
    phase: "queued",
    status: "queued",
    run: { id: "47422857169", name: "GitHub Advanced Security" },
    job: {
      id: "52530382611",
      name: "CodeQL",
      url: "https://github.com/derekg1729/test-repo/runs/52530382611",
    },
    ref: { name: "e2e-test-1760227487027", sha: SHA_COGNI, pullRequest: null },
    finishedAt: null,
    updatedAt: "2025-10-12T00:05:27Z",
  },
  "check_run.completed.2.json": helloCheckRun("success", "success", "finished"),
  "check_run.completed.3.json": helloCheckRun("success", "success", "finished"),
  "check_run.created.1.json": helloCheckRun("queued", "queued", "queued"),
  "check_run.created.2.json": helloCheckRun("queued", "queued", "queued"),
  "check_run.created.3.json": helloCheckRun("queued", "queued", "queued"),
  "check_run.requested_action.1.json": {
    kind: "job",
    phase: "started",
    status: "running",
    providerStatus: "in_progress",
    repository: { id: "9384267", fullName: "electron/electron" },
    run: { id: "1604239627", name: "Electron Cation" },
    job: {
      id: "1494503112",
      name: "API Review",
      url: "https://github.com/electron/electron/runs/1494503112",
    },
    ref: {
      name: "miniak/event-process-id",
      sha: "5bd5f196a46b8222fb7484f05faba41a73cf34bd",
      pullRequest: 26764,
    },
    startedAt: "2020-12-03T18:27:27Z",
    finishedAt: null,
  },
  ...Object.fromEntries(
    ["check_run.rerequested.1.json", "check_run.rerequested.2.json"].map((file) => [
      file,
      {
        kind: "job",
        phase: "finished",
        status: "neutral",
        repository: {
          id: "526",
          fullName: "github/hello-world",
          url: "http://github.com/github/hello-world",
        },
        run: { id: "5", name: "Super Duper" },
        // this check run has no details_url; html_url is used
        job: { id: "4", name: "randscape", url: "http://github.com/github/hello-world/runs/4" },
        ref: { name: "master", sha: "d6fde92930d4715a2b49857d24b940956b26d2d3", pullRequest: null },
        finishedAt: "2018-05-04T01:14:52Z",
      },
    ]),
  ),
  "check_suite.cogni-real.requested.json": {
    kind: "pipeline",
    phase: "queued",
    status: "queued",
    run: { id: "47422847646", name: "cogni-git-review-dev-derekg1729" },
    ref: { name: "main", sha: "916289b91ddcdfd4a8b314c5af92e39a3dccbf29" },
    // only the first line of a multi-line message
    commit: { title: "Merge PR #166 via CogniAction" },
    updatedAt: "2025-10-12T00:05:06Z",
    finishedAt: null,
  },
  "check_suite.cogni-real.rerequested.json": {
    kind: "pipeline",
    phase: "finished",
    status: "failure",
    providerStatus: "failure",
    run: { id: "46509573237", name: "cogni-git-review-dev-derekg1729" },
    ref: { name: "cogni-e2e-1759155577082", sha: "9acf02a83a763726b17686f7b39ee7e056643e43" },
    finishedAt: "2025-09-29T14:20:11Z",
    durationMs: 31_000,
  },
  "check_suite.completed.1.json": helloSuiteDone("changes", 2),
  "check_suite.completed.3.json": helloSuiteDone("changes", 2),
  "check_suite.completed.4.json": helloSuiteDone("changes", 2),
  "check_suite.requested.1.json": gemfileSuite("Codertocat", null),
  "check_suite.requested.2.json": gemfileSuite("github-actions[bot]", "github-actions[bot]"),
  "check_suite.requested.3.json": gemfileSuite("Codertocat", null),
  "check_suite.rerequested.1.json": helloSuiteDone("changes", 2),
  "check_suite.rerequested.2.json": helloSuiteDone("changes", 2),
  "deployment_status.created.1.json": productionDeploy,
  "deployment_status.created.2.json": {
    kind: "deployment",
    phase: "started",
    status: "running",
    providerStatus: "in_progress",
    run: {
      id: "145988746",
      name: "pages build and deployment",
      url: "https://github.com/CorsixTH/CorsixTH/runs/4687056418?check_suite_focus=true",
      trigger: "dynamic",
    },
    // environment_url is "": the target_url stands in
    deployment: {
      id: "145988746",
      environment: "github-pages",
      url: "https://github.com/Codertocat/Hello-World/runs/145988746?check_suite_focus=true",
    },
    ref: { name: "master", sha: SHA_GEMFILE },
    finishedAt: null,
    updatedAt: "2022-01-03T01:28:40Z",
  },
  "deployment_status.created.3.json": productionDeploy,
  "deployment_status.created.4.json": productionDeploy,
  // GitHub's own examples: the commit is the head of none of the listed branches (master is
  // at f95f852b), so it takes the first
  "status.ex.1.json": commitStatus("master", "Codertocat"),
  "status.ex.2.json": commitStatus("master", "Codertocat"),
  "status.ex.3.json": commitStatus("master", null),
  "status.ex.4.json": commitStatus("master", "Codertocat"),
  "workflow_job.completed.1.json": finishedLinters("failure"),
  "workflow_job.completed.2.json": finishedLinters("success"),
  "workflow_job.in_progress.1.json": {
    kind: "job",
    phase: "started",
    status: "running",
    repository: { id: "376034443", fullName: "octo-org/example-workflow" },
    // an early payload: no workflow_name, run_attempt or head_branch
    run: { id: "940463255", name: "", attempt: 1 },
    job: { id: "2832853555", name: "Test workflow", runnerName: "my runner" },
    ref: { name: null, type: null, sha: "e3103f8eb03e1ad7f2331c5446b23c070fc54055" },
    createdAt: null,
    startedAt: "2021-06-15T19:22:27Z",
    updatedAt: "2021-06-15T19:22:27Z",
  },
  "workflow_job.in_progress.2.json": {
    ...codeqlJob("Analyze (javascript)", "started", "running", "in_progress"),
    startedAt: "2021-09-13T02:21:13Z",
    finishedAt: null,
    durationMs: null,
  },
  "workflow_job.in_progress.3.json": {
    kind: "job",
    phase: "started",
    status: "running",
    run: { id: "5373506832", name: "Test", attempt: 1 },
    job: {
      id: "14541957942",
      name: "Do examples need to be regenerated?",
      url: "https://github.com/wolfy1339/github-events-schemas/actions/runs/5373506832/jobs/9747952373",
      runnerName: "GitHub Actions 6",
    },
    ref: { name: "renovate/got-13.x", type: "branch", sha: "eeeb91cc89453bff9ce51f450d8badd4eb41ae8b" },
    createdAt: "2023-06-26T03:31:29Z",
    startedAt: "2023-06-26T03:31:36Z",
  },
  "workflow_job.queued.1.json": {
    ...codeqlJob("update", "queued", "queued", "queued"),
    createdAt: "2021-09-13T02:21:13Z",
    finishedAt: null,
  },
  // action says "queued" but the job's status is "waiting": status wins
  "workflow_job.queued.2.json": envTestWaiting,
  "workflow_job.tf-aws-runner.queued.json": {
    kind: "job",
    phase: "queued",
    status: "queued",
    repository: { id: "258465213", fullName: "github-aws-runners/terraform-aws-github-runner" },
    run: { id: "1068820843", name: "", attempt: 1 },
    job: { id: "3169272040", name: "build", runnerName: null },
    ref: { name: null, sha: "3a8defcc0a6acc14b4839aec403eb3eca05069f8" },
    updatedAt: "2021-07-27T07:33:38Z",
  },
  "workflow_job.waiting.1.json": envTestWaiting,
  "workflow_run.cogni-real.in_progress.json": {
    kind: "pipeline",
    phase: "started",
    status: "running",
    providerStatus: "in_progress",
    repository: COGNI,
    run: {
      id: "18436407157",
      // the run is named "PR #166" (CodeQL sets it per run); lanes need the workflow's name
      name: "CodeQL",
      number: 189,
      attempt: 1,
      url: "https://github.com/derekg1729/test-repo/actions/runs/18436407157",
      trigger: "dynamic",
    },
    // head_branch is a pull ref: not a branch, but it names the pull request
    ref: { name: "refs/pull/166/head", type: null, sha: SHA_COGNI, pullRequest: 166 },
    commit: { title: "e2e: test PR for DAO vote", url: `${COGNI.url}/commit/${SHA_COGNI}` },
    actor: { username: "derekg1729" },
    createdAt: "2025-10-12T00:04:52Z",
    startedAt: "2025-10-12T00:04:52Z",
    finishedAt: null,
    updatedAt: "2025-10-12T00:04:56Z",
    durationMs: null,
  },
  // action "completed" but status "queued": the action is never trusted
  "workflow_run.completed.1.json": {
    kind: "pipeline",
    phase: "queued",
    status: "queued",
    providerStatus: "queued",
    repository: { id: "283462325", fullName: "Codertocat/Hello-World" },
    run: { id: "1589141559", name: "Manually triggered workflow", number: 36, trigger: "workflow_dispatch" },
    // GitHub's docs sample names another repository (octo-org/octo-repo) as the run's head
    ref: { name: "octo-org:main", sha: "5779607b49aab1200488439f02372c57b4f75444" },
    commit: {
      title: "Update milestone-created.yml",
      author: { name: "Mona Lisa", email: "octocat@github.com" },
    },
    finishedAt: null,
    updatedAt: "2021-12-16T19:37:22Z",
  },
  "workflow_run.completed.2.json": {
    ...octoRun("finished", "success", null, "2020-10-05T16:33:49Z"),
    finishedAt: "2020-10-05T16:33:49Z",
    durationMs: 0,
  },
  "workflow_run.completed.3.json": {
    ...octoRun("finished", "success", 2, "2020-10-05T16:33:49Z"),
    finishedAt: "2020-10-05T16:33:49Z",
  },
  "workflow_run.requested.1.json": {
    ...octoRun("queued", "queued", null, "2020-10-05T16:33:24Z"),
    finishedAt: null,
    durationMs: null,
  },
  // updated_at precedes run_started_at here: no negative duration
  "workflow_run.requested.2.json": {
    ...octoRun("finished", "action_required", null, "2020-10-05T16:33:24Z"),
    finishedAt: "2020-10-05T16:33:24Z",
    durationMs: null,
  },
};

const fixtureFiles = readdirSync(FIXTURES).filter((file) => file.endsWith(".json"));
/** check suites and runs that GitHub Actions created: workflow_run and workflow_job report them */
const ACTIONS_CHECKS = [
  "check_run.cogni-real.completed.json",
  "check_run.completed.1.json",
  "check_suite.cogni-real.completed.json",
  "check_suite.completed.2.json",
];
const handledFiles = fixtureFiles.filter(
  (file) => GITHUB_HANDLED_EVENTS.has(eventOf(file)) && !ACTIONS_CHECKS.includes(file),
);

void describe("normalizeGithub: every fixture of a handled event", () => {
  void it("has an expectation for each handled fixture", () => {
    assert.deepEqual([...handledFiles].sort(), Object.keys(EXPECTED).sort());
  });

  for (const file of handledFiles) {
    void it(file, () => {
      const event = only(eventOf(file), load(file));
      assert.equal(event.provider, "github");
      assert.equal(event.deliveryid, "delivery-1");
      assert.equal(event.type, `build.${event.data.kind}.${event.data.phase}.v1`);
      assert.equal(event.subject, `github/${event.data.repository.id}/${event.data.run.id}`);
      assert.deepEqual(parseBuildEvent(event), event);
      assertSubset(event.data, EXPECTED[file], file);
    });
  }
});

void describe("normalizeGithub: pull requests from forks", () => {
  const run = load("workflow_run.completed.2.json");
  const section = run.workflow_run as Record<string, unknown>;
  const stranger = { id: 4242, full_name: "stranger/octo-repo", owner: { login: "stranger" } };
  const withRun = (changes: Record<string, unknown>) => ({
    ...run,
    workflow_run: { ...section, ...changes },
  });

  void it("names a fork's branch owner:branch, so it is not this repository's branch", () => {
    const fork = only("workflow_run", withRun({ event: "pull_request", head_repository: stranger }));
    assert.equal(fork.data.ref.name, "stranger:master");
    assert.equal(fork.data.ref.type, "branch");
  });

  void it("keeps the branch name for the repository's own branches", () => {
    const own = only("workflow_run", withRun({ event: "pull_request" }));
    assert.equal(own.data.ref.name, "master");
  });

  void it("names the fork's branch for a workflow that a fork's run triggered too", () => {
    const triggered = only("workflow_run", withRun({ event: "workflow_run", head_repository: stranger }));
    assert.equal(triggered.data.ref.name, "stranger:master");
  });
});

void describe("normalizeGithub: events it does not handle", () => {
  for (const file of fixtureFiles.filter((name) => /^(ping|push)\./.test(name))) {
    void it(`${file} is acknowledged, not normalized`, () => {
      assert.deepEqual(normalizeGithub({ event: eventOf(file), deliveryId: "d", payload: load(file) }), {
        handled: false,
        reason: null,
      });
    });
  }

  void it("an unknown event is not handled, with no reason beyond its kind", () => {
    assert.deepEqual(normalizeGithub({ event: "issues", deliveryId: null, payload: {} }), {
      handled: false,
      reason: null,
    });
  });

  void it("check suites and check runs of GitHub Actions are dropped, others kept", () => {
    const slugOf = (file: string): unknown => {
      const check = load(file)[eventOf(file)] as { app?: { slug?: unknown } } | undefined;
      return check?.app?.slug;
    };
    const checks = fixtureFiles.filter((file) => /^check_(suite|run)\./.test(file));
    assert.deepEqual(
      checks.filter((file) => slugOf(file) === "github-actions"),
      ACTIONS_CHECKS,
      "the fixtures GitHub Actions created",
    );
    for (const file of ACTIONS_CHECKS) {
      const result = normalizeGithub({ event: eventOf(file), deliveryId: "d", payload: load(file) });
      assert.equal(result.handled, false, file);
      assert.match(
        String(!result.handled && result.reason),
        /^GitHub Actions check (suites|runs) are reported by workflow_(run|job) events$/,
      );
    }
    // the same suite from another app is a build of its own
    const suite = load("check_suite.cogni-real.completed.json");
    const other = {
      ...suite,
      check_suite: {
        ...(suite.check_suite as object),
        app: { slug: "circleci-checks", name: "CircleCI Checks" },
      },
    };
    const kept = only("check_suite", other);
    assert.equal(kept.data.run.name, "CircleCI Checks");
    assert.equal(kept.data.status, "success");
  });
});

void describe("normalizeGithub: payloads that are not what they claim", () => {
  const run = load("workflow_run.completed.2.json");
  const workflowRun = run.workflow_run as Record<string, unknown>;
  const cases: [string, string, unknown][] = [
    ["workflow_run without workflow_run", "workflow_run", { ...run, workflow_run: undefined }],
    ["workflow_run with an array for workflow_run", "workflow_run", { ...run, workflow_run: [] }],
    [
      "workflow_run with a boolean id",
      "workflow_run",
      { ...run, workflow_run: { ...workflowRun, id: true } },
    ],
    [
      "workflow_run with a numeric head_sha",
      "workflow_run",
      { ...run, workflow_run: { ...workflowRun, head_sha: 1 } },
    ],
    [
      "workflow_run with a numeric status",
      "workflow_run",
      { ...run, workflow_run: { ...workflowRun, status: 3 } },
    ],
    ["workflow_run without repository", "workflow_run", { ...run, repository: null }],
    [
      "workflow_run with an empty full_name",
      "workflow_run",
      { ...run, repository: { id: 1, full_name: "" } },
    ],
    ["a JSON array as the body", "workflow_run", []],
    ["a JSON string as the body", "check_suite", "check_suite"],
    [
      "check_run without its check_suite",
      "check_run",
      { ...load("check_run.created.1.json"), check_run: { id: 1, head_sha: "a" } },
    ],
    [
      "workflow_job without run_id",
      "workflow_job",
      { ...load("workflow_job.queued.1.json"), workflow_job: { id: 1, head_sha: "a", status: "queued" } },
    ],
    ["status without a context", "status", { ...load("status.ex.1.json"), context: null }],
    [
      "deployment_status without deployment",
      "deployment_status",
      { ...load("deployment_status.created.1.json"), deployment: undefined },
    ],
  ];
  for (const [name, event, payload] of cases) {
    void it(name, () => {
      assert.throws(() => normalizeGithub({ event, deliveryId: null, payload }), PayloadError);
    });
  }
});

void describe("normalizeGithub: status mapping", () => {
  const base = load("workflow_run.completed.2.json");
  const withRun = (changes: Record<string, unknown>) => ({
    ...base,
    workflow_run: { ...(base.workflow_run as Record<string, unknown>), ...changes },
  });

  void it("keeps an unknown conclusion as providerStatus and reports status unknown", () => {
    const { data } = only("workflow_run", withRun({ status: "completed", conclusion: "exploded" }));
    assert.equal(data.phase, "finished");
    assert.equal(data.status, "unknown");
    assert.equal(data.providerStatus, "exploded");
  });

  void it("reports an unknown status as unknown without claiming the run finished", () => {
    const { data } = only("workflow_run", withRun({ status: "warming_up", conclusion: null }));
    assert.equal(data.phase, "started");
    assert.equal(data.status, "unknown");
    assert.equal(data.providerStatus, "warming_up");
    assert.equal(data.finishedAt, null);
  });

  void it("does not read keys inherited from Object.prototype as states", () => {
    const { data } = only("workflow_run", withRun({ status: "completed", conclusion: "constructor" }));
    assert.equal(data.status, "unknown");
  });

  for (const [conclusion, status] of Object.entries(GITHUB_CONCLUSION_TABLE)) {
    void it(`conclusion ${conclusion} → ${status}`, () => {
      const { data } = only("workflow_run", withRun({ status: "completed", conclusion }));
      assert.equal(data.status, status);
      assert.equal(data.providerStatus, conclusion);
    });
  }

  for (const [status, row] of Object.entries(GITHUB_STATUS_TABLE).filter(([, r]) => r.status !== null)) {
    void it(`status ${status} → ${row.phase}/${row.status ?? ""}`, () => {
      const { data } = only("workflow_run", withRun({ status, conclusion: null }));
      assert.equal(data.phase, row.phase);
      assert.equal(data.status, row.status);
    });
  }

  void it("maps commit status error to failure and pending to running", () => {
    const status = load("status.ex.1.json");
    assert.equal(only("status", { ...status, state: "error" }).data.status, "failure");
    const pending = only("status", { ...status, state: "pending" }).data;
    assert.deepEqual([pending.phase, pending.status, pending.finishedAt], ["started", "running", null]);
  });

  void it("marks a commit status's run as one whose newest status wins, and no other GitHub run", () => {
    // GitHub shows a context's newest status: a CI's re-run posts pending after failure
    assert.equal(only("status", load("status.ex.1.json")).data.run.latestWins, true);
    for (const [event, file] of [
      ["workflow_run", "workflow_run.completed.2.json"],
      ["check_suite", "check_suite.completed.1.json"],
    ] as const) {
      assert.equal(only(event, load(file)).data.run.latestWins, undefined, file);
    }
  });

  void it("marks an Actions job as retried only by a new attempt, and no check run of another app", () => {
    // two jobs of one attempt may share a name; a re-requested check run is a new id of its name
    for (const file of handledFiles) {
      const event = only(eventOf(file), load(file));
      if (event.data.kind !== "job") continue;
      const expected = eventOf(file) === "workflow_job" ? true : undefined;
      assert.equal(event.data.job?.retriedByAttempt, expected, file);
    }
  });

  void it("files a commit status under the branch whose head it is, else the first that contains it", () => {
    const status = load("status.ex.1.json");
    const head = (name: string, sha: string) => ({ name, commit: { sha, url: "" }, protected: false });
    const other = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
    const on = (branches: unknown[]) => only("status", { ...status, branches }).data.ref;
    assert.deepEqual(on([head("master", other), head("changes", SHA_STATUS)]), {
      name: "changes",
      type: "branch",
      sha: SHA_STATUS,
      pullRequest: null,
    });
    assert.equal(on([head("master", other), head("changes", other)]).name, "master");
    assert.equal(on([]).name, null);
  });

  void it("dates a commit status of a commit at no listed branch's head from the commit", () => {
    // a pull request's commit whose build ended after the pull request was merged and its
    // branch deleted: GitHub lists it under the base branch alone, whose head is the merge
    const status = load("status.ex.1.json");
    const head = (name: string, sha: string) => ({ name, commit: { sha, url: "" }, protected: false });
    const merge = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
    const created = (branches: unknown[]) => only("status", { ...status, branches }).data.createdAt;
    assert.equal(created([head("master", merge)]), "2019-05-15T15:19:25Z", "the commit's committer date");
    assert.equal(created([head("master", SHA_STATUS)]), "2019-05-15T15:20:55+00:00", "the status's own");
  });

  void it("maps deployment pending to queued and inactive to neutral", () => {
    const payload = load("deployment_status.created.1.json");
    const deploymentStatus = payload.deployment_status as Record<string, unknown>;
    const withState = (state: string) =>
      only("deployment_status", { ...payload, deployment_status: { ...deploymentStatus, state } }).data;
    assert.deepEqual([withState("pending").phase, withState("pending").status], ["queued", "queued"]);
    assert.deepEqual([withState("inactive").phase, withState("inactive").status], ["finished", "neutral"]);
    assert.equal(withState("error").status, "failure");
  });

  void it("reads refs/tags/ head branches as tags", () => {
    const { data } = only("workflow_run", withRun({ head_branch: "refs/tags/v1.2.0" }));
    assert.deepEqual([data.ref.name, data.ref.type], ["v1.2.0", "tag"]);
  });
});

void describe("normalizeGithub: event ids", () => {
  const payload = load("workflow_run.completed.2.json");

  void it("gives the same payload the same id, whatever the delivery", () => {
    const first = only("workflow_run", payload, "delivery-a");
    const second = only("workflow_run", structuredClone(payload), "delivery-b");
    assert.equal(first.id, second.id);
  });

  void it("gives a later update of the same run a different id", () => {
    const later = {
      ...payload,
      workflow_run: {
        ...(payload.workflow_run as Record<string, unknown>),
        updated_at: "2020-10-05T16:40:00Z",
      },
    };
    assert.notEqual(only("workflow_run", payload).id, only("workflow_run", later).id);
  });

  void it("tolerates missing optional fields as null", () => {
    const run = payload.workflow_run as Record<string, unknown>;
    const bare = {
      repository: { id: 1, full_name: "a/b" },
      workflow_run: { id: run.id, head_sha: run.head_sha, status: "in_progress" },
    };
    const { data } = only("workflow_run", bare);
    assert.equal(data.run.name, "");
    assert.equal(data.run.url, null);
    assert.equal(data.commit.title, null);
    assert.equal(data.actor, null);
    assert.equal(data.updatedAt, null);
  });
});

void describe("normalizeGithub: links", () => {
  // a commit status's target_url and a deployment's URLs are whatever their creator typed:
  // only web links reach the events, and so the status API and the pages built on it
  const hostile = [
    "javascript:alert(document.cookie)",
    "JavaScript://%0Aalert(1)",
    "data:text/html,<script>",
    "//evil.example",
  ];

  void it("keeps a commit status's target_url only when it is http(s)", () => {
    for (const url of hostile) {
      const { data } = only("status", { ...load("status.ex.1.json"), target_url: url });
      assert.equal(data.run.url, null, url);
    }
    const kept = only("status", { ...load("status.ex.1.json"), target_url: "https://ci.example/b/1" });
    assert.equal(kept.data.run.url, "https://ci.example/b/1");
  });

  void it("keeps a deployment's log and environment URLs only when they are http(s)", () => {
    const payload = load("deployment_status.created.2.json");
    for (const url of hostile) {
      const status = {
        ...(payload.deployment_status as Record<string, unknown>),
        target_url: url,
        log_url: url,
        environment_url: url,
      };
      const { data } = only("deployment_status", { ...payload, deployment_status: status });
      assert.equal(data.run.url, null, url);
      assert.equal(data.deployment?.url, null, url);
    }
  });

  void it("drops a repository, run or commit link that is not http(s)", () => {
    const payload = load("workflow_run.completed.2.json");
    const run = payload.workflow_run as Record<string, unknown>;
    const { data } = only("workflow_run", {
      ...payload,
      repository: { ...(payload.repository as Record<string, unknown>), html_url: hostile[0] },
      workflow_run: { ...run, html_url: hostile[0] },
    });
    assert.equal(data.repository.url, null);
    assert.equal(data.run.url, null);
  });
});
