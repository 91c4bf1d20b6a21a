import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Transition } from "../../src/config/schema.ts";
import type { BuildEvent } from "../../src/events/schema.ts";
import { entityOf } from "../../src/notify/entity.ts";
import {
  decideTransition,
  MAX_REMEMBERED_RUNS,
  type Decision,
  type LaneState,
} from "../../src/notify/transitions.ts";
import { normalizeGithub } from "../../src/normalize/github.ts";
import { normalizeGitlab } from "../../src/normalize/gitlab.ts";
import { buildEvent, type EventSpec } from "../helpers/events.ts";
import { deploymentEvent } from "../helpers/github-runs.ts";
import { readFixture } from "../helpers/webhooks.ts";

/** Feeds events lane by lane (each into the lane its entity names), as the consumers do; returns each event's transition. */
function feedLanes(events: readonly BuildEvent[]): (Transition | null)[] {
  const lanes = new Map<string, LaneState>();
  return events.map((event) => {
    const entity = entityOf(event.data);
    const result = decideTransition(
      lanes.get(entity.laneId) ?? null,
      entity,
      event.data.phase,
      event.data.status,
    );
    lanes.set(entity.laneId, result.lane);
    return result.decision.transition;
  });
}

/** Feeds events through one lane; returns the transitions (null for none) and the final lane. */
function feed(events: readonly BuildEvent[], start: LaneState | null = null) {
  let lane = start;
  const decisions: Decision[] = [];
  for (const event of events) {
    const result = decideTransition(lane, entityOf(event.data), event.data.phase, event.data.status);
    lane = result.lane;
    decisions.push(result.decision);
  }
  return { lane, decisions, transitions: decisions.map((d) => d.transition) };
}

const run = (n: number, status: NonNullable<EventSpec["status"]>, extra: EventSpec = {}) =>
  buildEvent({
    runId: String(1000 + n),
    runNumber: n,
    status,
    createdAt: `2024-05-01T10:${String(n).padStart(2, "0")}:00Z`,
    at: `2024-05-01T10:${String(n).padStart(2, "0")}:30Z`,
    ...extra,
  });

describe("decideTransition", () => {
  it("flapping success → failure → failure → success gives succeeded, failed, still_failing, fixed", () => {
    const { transitions } = feed([
      run(1, "success"),
      run(2, "failure"),
      run(3, "failure"),
      run(4, "success"),
    ]);
    assert.deepEqual(transitions, ["succeeded", "failed", "still_failing", "fixed"] satisfies Transition[]);
  });

  it("a first failure with no history is failed; a start is started", () => {
    assert.deepEqual(feed([run(1, "running"), run(1, "failure")]).transitions, ["started", "failed"]);
  });

  it("canceled is not a failure and does not break a failure streak", () => {
    const { transitions } = feed([run(1, "failure"), run(2, "canceled"), run(3, "success")]);
    assert.deepEqual(transitions, ["failed", "canceled", "fixed"]);
    assert.deepEqual(feed([run(1, "success"), run(2, "canceled"), run(3, "failure")]).transitions, [
      "succeeded",
      "canceled",
      "failed",
    ]);
  });

  it("a duplicate replays the recorded decision as not fresh and changes nothing", () => {
    const first = feed([run(1, "failure")]);
    const again = decideTransition(first.lane, entityOf(run(1, "failure").data), "finished", "failure");
    assert.equal(again.changed, false);
    assert.equal(again.decision.fresh, false);
    assert.equal(again.decision.transition, "failed");
    assert.equal(again.decision.noticeId, first.decisions[0]?.noticeId);
  });

  it("late events of a run that already finished give no new transition", () => {
    const { decisions } = feed([run(1, "failure"), run(1, "running"), run(1, "queued")]);
    assert.deepEqual(
      decisions.map((d) => d.fresh),
      [true, false, false],
    );
  });

  it("a late finish of an older run is ignored after a newer one finished", () => {
    const { transitions, lane } = feed([run(2, "failure"), run(1, "success"), run(3, "success")]);
    assert.deepEqual(transitions, ["failed", null, "fixed"]);
    assert.equal(lane?.last?.key, entityOf(run(3, "success").data).key);
  });

  it("a higher attempt that succeeds after a failure is fixed; the old attempt's events are stale", () => {
    const { transitions } = feed([
      run(1, "failure"),
      run(1, "running", { attempt: 2 }),
      run(1, "success", { attempt: 2 }),
      run(1, "failure"),
    ]);
    assert.deepEqual(transitions, ["failed", "started", "fixed", null]);
  });

  it("still_failing and fixed thread under the failed notice that opened the streak", () => {
    const { decisions } = feed([run(1, "failure"), run(2, "failure"), run(3, "success"), run(4, "failure")]);
    const [failed, still, fixed, again] = decisions;
    assert.equal(failed?.threadRootId, null);
    assert.equal(still?.threadRootId, failed?.noticeId);
    assert.equal(fixed?.threadRootId, failed?.noticeId);
    assert.equal(again?.transition, "failed");
    assert.equal(again?.threadRootId, null);
    assert.notEqual(again?.noticeId, failed?.noticeId);
  });

  it("skipped, manual and queued states decide nothing", () => {
    assert.deepEqual(feed([run(1, "skipped"), run(2, "manual"), run(3, "queued")]).transitions, [
      null,
      null,
      null,
    ]);
  });

  it("remembers a bounded number of runs and still counts each once", () => {
    const events = Array.from({ length: MAX_REMEMBERED_RUNS + 20 }, (_, i) =>
      run(i + 1, i % 2 === 0 ? "failure" : "success", {
        createdAt: new Date(Date.UTC(2024, 4, 1, 10, i)).toISOString(),
      }),
    );
    const { lane } = feed(events);
    assert.ok(Object.keys(lane?.runs ?? {}).length <= MAX_REMEMBERED_RUNS);
    const replay = feed(events, lane);
    assert.deepEqual(
      replay.decisions.filter((d) => d.fresh),
      [],
    );
  });
});

describe("a run retried in place (GitLab retry, GitHub re-requested suite: same id and attempt)", () => {
  const pipeline = (status: NonNullable<EventSpec["status"]>, minute: number) =>
    buildEvent({
      runId: "5000",
      runNumber: 50,
      status,
      createdAt: "2024-05-01T11:00:00Z",
      at: `2024-05-01T11:${String(minute).padStart(2, "0")}:00Z`,
    });
  /** what each event notifies: its transition when fresh, null for a replay or nothing */
  const notices = (decisions: readonly Decision[]) => decisions.map((d) => (d.fresh ? d.transition : null));

  it("failed → running → success is failed, then fixed", () => {
    const { decisions } = feed([pipeline("failure", 10), pipeline("running", 20), pipeline("success", 30)]);
    assert.deepEqual(notices(decisions), ["failed", null, "fixed"]);
  });

  it("success → running → success (a manual job run late) adds nothing", () => {
    const { decisions } = feed([pipeline("success", 10), pipeline("running", 20), pipeline("success", 30)]);
    assert.deepEqual(notices(decisions), ["succeeded", null, null]);
  });

  it("the old failure delivered late, after the retry's success, adds nothing", () => {
    const { transitions, decisions } = feed([
      pipeline("failure", 10),
      pipeline("success", 30),
      pipeline("failure", 10),
    ]);
    assert.deepEqual(transitions, ["failed", "fixed", "fixed"]);
    assert.equal(decisions[2]?.fresh, false, "a replay of the recorded decision, not a new notice");
  });

  it("the retry's success redelivered is the same notice", () => {
    const { decisions } = feed([pipeline("failure", 10), pipeline("success", 30), pipeline("success", 30)]);
    assert.equal(decisions[2]?.fresh, false);
    assert.equal(decisions[2]?.noticeId, decisions[1]?.noticeId);
    assert.notEqual(decisions[1]?.noticeId, decisions[0]?.noticeId);
  });
});

describe("runs of a commit the lane already counted", () => {
  const commit = (letter: string) => letter.repeat(40);

  it("push and pull_request runs of one failing commit: failed once, still_failing for the next commit", () => {
    const { transitions, decisions, lane } = feed([
      run(1, "failure", { sha: commit("a") }),
      run(2, "failure", { sha: commit("a") }),
      run(3, "failure", { sha: commit("b") }),
      run(4, "success", { sha: commit("c") }),
    ]);
    assert.deepEqual(transitions, ["failed", null, "still_failing", "fixed"]);
    assert.equal(decisions[1]?.noticeId, null);
    assert.equal(decisions[2]?.threadRootId, decisions[0]?.noticeId, "the streak still opened with run 1");
    assert.equal(lane?.last?.key, entityOf(run(4, "success").data).key);
  });

  it("a second passing run of one commit adds nothing; a failing one is news, and so is its fix", () => {
    const { transitions } = feed([
      run(1, "success", { sha: commit("a") }),
      run(2, "success", { sha: commit("a") }),
      run(3, "failure", { sha: commit("a") }),
      run(4, "failure", { sha: commit("a") }),
      run(5, "success", { sha: commit("a") }),
    ]);
    assert.deepEqual(transitions, ["succeeded", null, "failed", null, "fixed"]);
  });

  it("a re-run that fails again adds nothing; one that passes is fixed", () => {
    const { transitions } = feed([
      run(1, "failure"),
      run(1, "failure", { attempt: 2 }),
      run(1, "success", { attempt: 3 }),
    ]);
    assert.deepEqual(transitions, ["failed", null, "fixed"]);
  });

  it("the run that added nothing, retried in place to a pass, is fixed", () => {
    const { transitions } = feed([
      run(1, "failure", { sha: commit("a") }),
      run(2, "failure", { sha: commit("a") }),
      run(2, "success", { sha: commit("a"), at: "2024-05-01T10:30:00Z" }),
    ]);
    assert.deepEqual(transitions, ["failed", null, "fixed"]);
  });

  it("its redelivery replays nothing", () => {
    const first = feed([run(1, "failure", { sha: commit("a") }), run(2, "failure", { sha: commit("a") })]);
    const again = decideTransition(
      first.lane,
      entityOf(run(2, "failure", { sha: commit("a") }).data),
      "finished",
      "failure",
    );
    assert.equal(again.changed, false);
    assert.equal(again.decision.transition, null);
  });

  it("a lane written before commits were kept still says still_failing", () => {
    const before = feed([run(1, "failure", { sha: commit("a") })]).lane;
    assert.ok(before?.last);
    const { sha: _sha, ...last } = before.last;
    const { transitions } = feed([run(2, "failure", { sha: commit("a") })], { ...before, last });
    assert.deepEqual(transitions, ["still_failing"]);
  });

  it("runs without a commit sha are never taken for the same commit", () => {
    const { transitions } = feed([run(1, "failure", { sha: "" }), run(2, "failure", { sha: "" })]);
    assert.deepEqual(transitions, ["failed", "still_failing"]);
  });
});

describe("GitLab child pipelines", () => {
  const gitlab = (n: number, status: NonNullable<EventSpec["status"]>, trigger = "push") => {
    const event = run(n, status, { provider: "gitlab", pipeline: "pipeline" });
    return { ...event, data: { ...event.data, run: { ...event.data.run, trigger } } };
  };

  it("a child's success never fixes its parent's failure, nor does its later start hide it", () => {
    const transitions = feedLanes([
      gitlab(1, "success"),
      gitlab(3, "success", "parent_pipeline"), // the child of run 2 finished first
      gitlab(2, "failure"),
      gitlab(4, "failure"),
      gitlab(5, "success", "parent_pipeline"),
      gitlab(6, "success"),
    ]);
    assert.deepEqual(transitions, [
      "succeeded",
      "succeeded",
      "failed",
      "still_failing",
      "succeeded",
      "fixed",
    ]);
  });

  it("a nightly (scheduled) pipeline is followed apart from the branch's pushes; a UI re-run with them", () => {
    const transitions = feedLanes([
      gitlab(1, "success", "schedule"),
      gitlab(2, "failure", "push"),
      gitlab(3, "failure", "schedule"), // the nightly breaks: news, whatever the pushes did
      gitlab(4, "success", "web"), // "Run pipeline" in the UI builds the branch like a push
    ]);
    assert.deepEqual(transitions, ["succeeded", "failed", "failed", "fixed"]);
  });

  it("jobs of different merge requests (no branch: refs/merge-requests/<iid>/head) are followed apart", () => {
    const job = (n: number, status: NonNullable<EventSpec["status"]>, mergeRequest: number) => {
      const event = run(n, status, {
        provider: "gitlab",
        branch: null,
        job: { id: String(n), name: "test" },
      });
      return { ...event, data: { ...event.data, ref: { ...event.data.ref, pullRequest: mergeRequest } } };
    };
    assert.deepEqual(feedLanes([job(1, "failure", 1), job(2, "success", 2)]), ["failed", "succeeded"]);
  });

  it("pipelines named per run (workflow:name: $CI_COMMIT_TITLE) still say still failing and fixed", () => {
    const named = (n: number, status: NonNullable<EventSpec["status"]>, title: string) => {
      const event = gitlab(n, status);
      return { ...event, data: { ...event.data, run: { ...event.data.run, name: title } } };
    };
    const transitions = feedLanes([
      named(1, "failure", "Add login"),
      named(2, "failure", "Fix login?"),
      named(3, "success", "Really fix login"),
    ]);
    assert.deepEqual(transitions, ["failed", "still_failing", "fixed"]);
  });
});

describe("deployments", () => {
  it("GitLab: a deploy job dropped before it ran, failing after a newer deploy, is not news", () => {
    // a deployment hook names only when its status changed; a job stuck without a runner
    // sends no `running` hook before it times out
    const payload = JSON.parse(readFixture("gitlab/deployment.doc.1.json")) as Record<string, unknown>;
    const hook = (deploymentId: number, status: string, time: string): BuildEvent => {
      const result = normalizeGitlab({
        event: "Deployment Hook",
        deliveryId: null,
        payload: {
          ...payload,
          deployment_id: deploymentId,
          deployable_id: deploymentId * 10,
          status,
          status_changed_at: time,
        },
      });
      assert.ok(result.handled);
      return result.events[0] as BuildEvent;
    };
    const { transitions } = feed([
      // deployment 16, of a newer pipeline, runs and succeeds while 15's job waits for a runner
      hook(16, "running", "2024-05-01 10:05:00 UTC"),
      hook(16, "success", "2024-05-01 10:08:00 UTC"),
      // deployment 15 times out an hour later
      hook(15, "failed", "2024-05-01 11:00:00 UTC"),
    ]);
    assert.deepEqual(transitions, ["started", "succeeded", null]);
  });
});

describe("deployments across refs", () => {
  const deployed = deploymentEvent;
  const sha = (n: number): string => `${n}`.repeat(40).slice(0, 40);

  it("GitHub: production deployed from tags is fixed by the next tag and still failing on a third", () => {
    assert.deepEqual(
      feedLanes([
        deployed(1, "v1.0", "failure"),
        deployed(2, "v1.0.1", "success"),
        deployed(3, "v1.1.0", "failure"),
        deployed(4, "refs/tags/v1.1.1", "error"),
        deployed(5, "v1.1.2-rc.1", "success"),
      ]),
      ["failed", "fixed", "failed", "still_failing", "fixed"],
    );
  });

  it("GitHub: deployments of commits (Argo, Spinnaker) follow their environment, sha or short sha", () => {
    assert.deepEqual(
      feedLanes([
        deployed(1, sha(1), "failure"),
        deployed(2, sha(2).slice(0, 7), "success"),
        deployed(3, sha(3).slice(0, 12), "failure"),
      ]),
      ["failed", "fixed", "failed"],
    );
  });

  it("GitHub: one environment's previews of each branch (Vercel's Preview) are followed apart, whatever their names", () => {
    assert.deepEqual(
      feedLanes([
        deployed(1, "123-fix-login", "failure", "Preview"),
        deployed(2, "1.x", "success", "Preview"),
        deployed(3, "123-fix-login", "failure", "Preview"),
        deployed(4, "123-fix-login", "success", "Preview"),
      ]),
      ["failed", "succeeded", "still_failing", "fixed"],
    );
  });

  it("GitLab: production deployed from tags is fixed by the next tag", () => {
    const payload = JSON.parse(readFixture("gitlab/deployment.doc.1.json")) as Record<string, unknown>;
    const hook = (deploymentId: number, ref: string, status: string, minute: number): BuildEvent => {
      const result = normalizeGitlab({
        event: "Deployment Hook",
        deliveryId: null,
        payload: {
          ...payload,
          ref,
          // each tag a new commit
          commit_url: `${String(payload.commit_url).replace(/[0-9a-f]{40}$/, "")}${sha(deploymentId)}`,
          environment: "production",
          deployment_id: deploymentId,
          deployable_id: deploymentId * 10,
          status,
          status_changed_at: `2026-12-01 10:${String(minute).padStart(2, "0")}:00 UTC`,
        },
      });
      assert.ok(result.handled);
      return result.events[0] as BuildEvent;
    };
    assert.deepEqual(
      feedLanes([
        hook(20, "1.0.0", "failed", 1),
        hook(21, "1.0.1", "failed", 2),
        hook(22, "1.0.2", "success", 3),
      ]),
      ["failed", "still_failing", "fixed"],
    );
  });
});

describe("commit statuses (each POST a new object with its own created_at)", () => {
  const status = (commit: "a" | "b", state: "running" | "success" | "failure", minute: number) => {
    const time = `2024-05-01T10:${String(minute).padStart(2, "0")}:00Z`;
    return buildEvent({
      runId: `${commit.repeat(40)}:ci/jenkins`,
      runNumber: null,
      sha: commit.repeat(40),
      pipeline: "ci/jenkins",
      status: state,
      createdAt: time,
      at: time,
    });
  };

  it("a slow build of an older commit finishing last is not news", () => {
    const { transitions } = feed([
      status("a", "running", 0),
      status("b", "running", 5),
      status("b", "success", 10),
      status("a", "failure", 20), // commit a is older than b: its failure says nothing of the branch
    ]);
    assert.deepEqual(transitions, ["started", "started", "succeeded", null]);
  });

  it("a pull request's commit whose build fails after the merge is not main's failure", () => {
    const payload = JSON.parse(readFixture("github/status.ex.1.json")) as Record<string, unknown>;
    const commit = payload.commit as { commit: Record<string, unknown> };
    const posted = (
      sha: string,
      state: string,
      minute: number,
      [branch, head]: readonly [string, string],
      committed = minute,
    ): BuildEvent => {
      const at = (m: number) => `2024-05-01T10:${String(m).padStart(2, "0")}:00Z`;
      const time = at(minute);
      const committer = { name: "A", email: "a@example.com", date: at(committed) };
      const result = normalizeGithub({
        event: "status",
        deliveryId: null,
        payload: {
          ...payload,
          sha,
          context: "ci/circleci: test",
          state,
          created_at: time,
          updated_at: time,
          commit: { ...commit, sha, commit: { ...commit.commit, committer } },
          branches: [{ name: branch, commit: { sha: head, url: "" }, protected: false }],
        },
      });
      assert.ok(result.handled);
      return result.events[0] as BuildEvent;
    };
    const [base, pr, merge] = ["1".repeat(40), "a".repeat(40), "9".repeat(40)];
    const onMain = [
      posted(base, "pending", 0, ["main", base]),
      posted(base, "success", 5, ["main", base]),
      // the merge commit, built while the pull request's commit (committed at 10:07) still was
      posted(merge, "pending", 15, ["main", merge]),
      posted(merge, "success", 20, ["main", merge]),
      // its branch deleted at the merge, GitHub lists the pull request's commit under main only
      posted(pr, "failure", 30, ["main", merge], 7),
    ];
    assert.deepEqual(feed(onMain).transitions, ["started", "succeeded", "started", "succeeded", null]);
  });
});
