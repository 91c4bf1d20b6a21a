import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestGateway } from "../helpers/gateway.ts";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { freePort, startNats, startRedis } from "../helpers/servers.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";

test(
  "role ingress takes webhooks without consumers; role workers consumes them and refuses webhooks",
  { timeout: 60_000 },
  async () => {
    const nats = await startNats();
    const redis = await startRedis();
    const ingress = await startTestGateway({ nats, redis, overrides: { role: "ingress" } });
    try {
      const body = workflowRun({
        runId: 31337,
        status: "completed",
        conclusion: "failure",
        at: 50,
        repository: "acme/roles",
      });
      const accepted = await postGithub(ingress.url, "workflow_run", body);
      assert.equal(accepted.status, 202);
      const consumers = await ingress.gateway.bus.jsm.consumers.list("BUILD_EVENTS").next();
      assert.deepEqual(
        consumers.map((c) => c.name),
        [],
        "an ingress replica creates no consumers",
      );
      const status = await fetch(`${ingress.url}/api/v1/status?repository=acme/roles&branch=main`);
      assert.equal(status.status, 404, "the API answers (nothing consumed yet)");

      const workers = await startTestGateway({ nats, redis, overrides: { role: "workers" } });
      try {
        const refused = await postGithub(workers.url, "workflow_run", body);
        assert.equal(refused.status, 404);
        assert.match(String(refused.body.message), /role "workers"/);
        // the worker consumes what the ingress replica stored; both replicas' APIs then agree
        const deadline = Date.now() + 15_000;
        let answer: Response | null = null;
        while (Date.now() < deadline) {
          answer = await fetch(`${ingress.url}/api/v1/status?repository=acme/roles&branch=main`);
          if (answer.status === 200) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.ok(
          answer !== null && answer.status === 200,
          "the worker's writes reach the ingress replica's API",
        );
        const json = (await answer.json()) as { state: string };
        assert.equal(json.state, "failing");
      } finally {
        await workers.close();
      }
    } finally {
      await ingress.close();
      await nats.dispose();
      await redis.dispose();
    }
  },
);

test(
  "Redis away stops neither an ingress replica nor a gateway whose notices are off",
  { timeout: 120_000 },
  async () => {
    const nats = await startNats();
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    try {
      for (const env of [
        // an ingress replica of a deployment that does notify: its workers need Redis, it does not
        { BUILDCAST_ROLE: "ingress", SLACK_BOT_TOKEN: "xoxb-roles", SMTP_URL: "smtp://127.0.0.1:1" },
        // the default role with neither Slack nor e-mail set: nothing of it uses Redis
        { BUILDCAST_ROLE: "all" },
      ]) {
        const gateway = await startGatewayProcess({ NATS_URL: nats.url, REDIS_URL: nowhere, ...env });
        try {
          const answer = await postGithub(
            gateway.url,
            "workflow_run",
            workflowRun({ runId: 4242, status: "completed", conclusion: "failure", at: 10 }),
          );
          assert.equal(answer.status, 202, `${env.BUILDCAST_ROLE}: ${gateway.output()}`);
        } finally {
          await gateway.kill();
        }
      }
    } finally {
      await nats.dispose();
    }
  },
);
