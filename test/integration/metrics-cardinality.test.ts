import assert from "node:assert/strict";
import { test } from "node:test";
import { startIngress } from "../helpers/ingress.ts";
import { startNats } from "../helpers/servers.ts";
import { postGithub, postGitlab, readFixture } from "../helpers/webhooks.ts";

const RUN = readFixture("github/workflow_run.completed.2.json");
const PIPELINE = readFixture("gitlab/pipeline.doc.1.json");

/** The distinct `event` label values of buildcast_webhooks_total, per provider. */
async function eventLabels(url: string): Promise<Record<string, string[]>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const labels: Record<string, Set<string>> = {};
  for (const match of text.matchAll(/^buildcast_webhooks_total\{provider="(\w+)",event="([^"]*)"/gm)) {
    (labels[match[1] ?? ""] ??= new Set()).add(match[2] ?? "");
  }
  return Object.fromEntries(Object.entries(labels).map(([provider, set]) => [provider, [...set].sort()]));
}

/**
 * GitHub signs the body, not the X-GitHub-Event header, so a body captured once (a proxy's
 * log, a redelivery page) verifies under any event name; GitLab's token does not vouch for
 * the header either. Each label value is a time series kept for the life of the process.
 */
test("event names a verified webhook claims cannot grow /metrics without bound", async () => {
  const nats = await startNats();
  const ingress = await startIngress(nats, null);
  try {
    for (let i = 0; i < 30; i++) {
      const github = await postGithub(ingress.url, `made-up-${i}`, RUN);
      assert.equal(github.status, 202, JSON.stringify(github.body));
      const gitlab = await postGitlab(ingress.url, `Made Up ${i} Hook`, PIPELINE);
      assert.equal(gitlab.status, 202, JSON.stringify(gitlab.body));
    }
    assert.equal((await postGithub(ingress.url, "workflow_run", RUN)).status, 202);
    assert.equal((await postGitlab(ingress.url, "Pipeline Hook", PIPELINE)).status, 202);
    // the events buildcast handles and `other`, which exist from the start (rejected_503 at
    // 0, for BuildcastWebhooksUnavailable); none of the made-up names
    assert.deepEqual(await eventLabels(ingress.url), {
      github: [
        "check_run",
        "check_suite",
        "deployment_status",
        "other",
        "ping",
        "status",
        "workflow_job",
        "workflow_run",
      ],
      gitlab: ["Build Hook", "Deployment Hook", "Job Hook", "Pipeline Hook", "other"],
    });
  } finally {
    await ingress.close();
    await nats.dispose();
  }
});
