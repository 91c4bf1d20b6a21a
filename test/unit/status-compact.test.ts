import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BuildEvent } from "../../src/events/schema.ts";
import { compactBranch, type SharedRepositories } from "../../src/status/compact.ts";
import { applyEvent } from "../../src/status/merge.ts";
import type { BranchState, RunState } from "../../src/status/model.ts";
import { mergeBranch, summarize } from "../../src/status/summary.ts";
import { workflowRunEvent } from "../helpers/github-runs.ts";
import { buildEvent } from "../helpers/events.ts";

const t = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, "0")}:00Z`;
const fold = (events: readonly BuildEvent[]): RunState =>
  events.reduce<RunState | null>((state, event) => applyEvent(state, event), null) as RunState;

/** A branch list as the store writes it and the view parses it: through JSON. */
function listOf(branch: string, runs: readonly RunState[], repository = "acme/mono"): BranchState {
  let list: BranchState | null = null;
  runs.forEach((run, i) => {
    list = mergeBranch(list, run, summarize(run, i + 1), branch, 50);
  });
  assert.ok(list, `${repository} ${branch} has a list`);
  return JSON.parse(JSON.stringify(list)) as BranchState;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

const runs = (repository = "acme/mono", branch = "feature/x"): RunState[] => [
  fold([buildEvent({ repository, branch, runId: "1", createdAt: t(1), at: t(2) })]),
  fold([
    buildEvent({
      repository,
      branch,
      runId: "2",
      status: "failure",
      createdAt: t(3),
      at: t(4),
      job: { id: "21", name: "test", stage: "check" },
    }),
    buildEvent({ repository, branch, runId: "2", status: "failure", createdAt: t(3), at: t(4) }),
  ]),
  fold([
    buildEvent({ repository, branch, runId: "3", author: null, title: null, createdAt: t(5), at: t(6) }),
  ]),
];

type Author = NonNullable<BranchState["runs"][number]["commit"]["author"]>;

describe("compacting a branch list (the status view holds equal values once)", () => {
  it("answers exactly what the list says, whatever its runs hold", () => {
    // a GitHub Actions run (with a workflow id) among runs without one
    const actions = workflowRunEvent({
      repository: "acme/mono",
      workflowId: 77,
      name: "CI",
      number: 4,
      conclusion: "success",
      day: 1,
      minute: 8,
    });
    const list = listOf("main", [...runs("acme/mono", "main"), fold([actions])]);
    const compact = compactBranch(list, new Map(), "acme/mono");
    assert.equal(JSON.stringify(compact), JSON.stringify(list));
    assert.deepEqual(compact, list);
    assert.ok(
      compact.runs.some((run) => run.workflowId !== undefined) &&
        compact.runs.some((run) => !("workflowId" in run)),
      "an optional field stays absent where it was",
    );
  });

  it("never changes the list it is given (the store's cache shares it)", () => {
    const list = deepFreeze(listOf("feature/x", runs()));
    const copy = JSON.stringify(list);
    assert.doesNotThrow(() => compactBranch(list, new Map(), "acme/mono"));
    assert.equal(JSON.stringify(list), copy);
  });

  it("shares one repository between lists, one author and one empty failed-job list between runs", () => {
    const repositories: SharedRepositories = new Map();
    const a = compactBranch(listOf("feature/a", runs()), repositories, "acme/mono");
    const b = compactBranch(listOf("feature/b", runs()), repositories, "acme/mono");
    assert.equal(a.repository, b.repository);
    const passed = a.runs.filter((run) => run.failedJobs.length === 0);
    assert.ok(passed.length >= 2);
    assert.equal(passed[0]?.failedJobs, passed[1]?.failedJobs);
    const authored = a.runs.filter((run) => run.commit.author !== null);
    assert.ok(authored.length >= 2);
    assert.equal(authored[0]?.commit.author, authored[1]?.commit.author);
  });

  it("keeps a repository of another id apart, though its name is the same", () => {
    const repositories: SharedRepositories = new Map();
    const a = compactBranch(listOf("main", runs("acme/mono", "main")), repositories, "acme/mono");
    const moved = listOf("main", runs("acme/mono", "main"));
    const other: BranchState = { ...moved, repository: { ...moved.repository, id: "another-id" } };
    const b = compactBranch(other, repositories, "acme/mono");
    assert.equal(b.repository.id, "another-id");
    assert.equal(a.repository.id, "id-acme/mono");
  });

  it("shares no author or repository that carries more than this release knows of", () => {
    const repositories: SharedRepositories = new Map();
    const plain = compactBranch(listOf("feature/a", runs()), repositories, "acme/mono");
    const list = listOf("feature/b", runs());
    const richer: BranchState = {
      ...list,
      repository: { ...list.repository, visibility: "private" } as BranchState["repository"],
      runs: list.runs.map((run, i) =>
        i === 1 && run.commit.author
          ? { ...run, commit: { ...run.commit, author: { ...run.commit.author, team: "core" } as Author } }
          : run,
      ),
    };
    assert.ok(richer.runs.filter((run) => run.commit.author !== null).length >= 2);
    const compact = compactBranch(richer, repositories, "acme/mono");
    assert.equal(JSON.stringify(compact), JSON.stringify(richer));
    assert.notEqual(compact.repository, plain.repository);
  });

  it("keeps the runs a compacted list already had when the store adds one", () => {
    const repositories: SharedRepositories = new Map();
    const [first, second, third] = runs();
    assert.ok(first && second && third);
    const before = compactBranch(listOf("feature/x", [first, second]), repositories, "acme/mono");
    const added = mergeBranch(before, third, summarize(third, 9), "feature/x", 50);
    const after = compactBranch(added, repositories, "acme/mono");
    for (const run of before.runs) assert.ok(after.runs.includes(run), `run ${run.runId} kept as it was`);
    assert.equal(JSON.stringify(after), JSON.stringify(added));
  });
});
