import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { startNats, startRedis } from "../helpers/servers.ts";
import { startSlackServer } from "../helpers/slack-server.ts";
import { startSmtpSink } from "../helpers/smtp-sink.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => resolve(body));
  });

test(
  "with OTEL_EXPORTER_OTLP_ENDPOINT set, the webhook's trace is exported over OTLP/HTTP",
  { timeout: 90_000 },
  async () => {
    const exports: Array<{ path: string; body: string }> = [];
    const collector = createServer((req, res) => {
      void readBody(req).then((body) => {
        exports.push({ path: req.url ?? "", body });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const nats = await startNats();
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), "buildcast-otel-"));
    const gateway = await startGatewayProcess({
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      BUILDCAST_SPOOL_DIR: dir,
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_BSP_SCHEDULE_DELAY: "200",
    });
    try {
      const traceId = "0af7651916cd43dd8448eb211c80319c";
      const result = await postGithub(
        gateway.url,
        "workflow_run",
        workflowRun({ runId: 77, status: "completed", at: 9 }),
        {
          headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
        },
      );
      assert.equal(result.status, 202);
      const deadline = Date.now() + 20_000;
      while (!exports.some((e) => e.body.includes(traceId)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const exported = exports.filter((e) => e.body.includes(traceId));
      assert.ok(
        exported.length > 0,
        `a span of trace ${traceId} reached the collector (${exports.length} exports seen)`,
      );
      assert.equal(exported[0]!.path, "/v1/traces");
      assert.match(gateway.output(), /exporting OpenTelemetry spans/);

      // webhooks arriving together reach a consumer in one batch: each trace still shows it
      const traceIds = Array.from(
        { length: 6 },
        (_, i) => `${String(i + 1).repeat(10)}cd43dd8448eb211c80319c`,
      );
      const answers = await Promise.all(
        traceIds.map((id, i) =>
          postGithub(
            gateway.url,
            "workflow_run",
            workflowRun({ runId: 100 + i, status: "completed", at: 9 }),
            {
              headers: { traceparent: `00-${id}-b7ad6b7169203331-01` },
            },
          ),
        ),
      );
      assert.deepEqual(
        answers.map((answer) => answer.status),
        traceIds.map(() => 202),
      );
      const consumed = () => {
        const spans = exports.flatMap((e) =>
          (
            JSON.parse(e.body) as {
              resourceSpans: { scopeSpans: { spans: { traceId: string; name: string }[] }[] }[];
            }
          ).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((scope) => scope.spans)),
        );
        return traceIds.filter((id) =>
          spans.some((span) => span.traceId === id && span.name === "consume status-store"),
        );
      };
      const until = Date.now() + 20_000;
      while (consumed().length < traceIds.length && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(consumed(), traceIds, "every webhook's trace has the status store's consumer span");
    } finally {
      await gateway.terminate();
      await nats.dispose();
      await redis.dispose();
      collector.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

interface ExportedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
}

test(
  "one webhook's trace: ingress, then its publish, each consumer under the publish, each delivery under its consumer",
  { timeout: 90_000 },
  async () => {
    const spans: ExportedSpan[] = [];
    const collector = createServer((req, res) => {
      void readBody(req).then((body) => {
        const parsed = JSON.parse(body) as {
          resourceSpans: { scopeSpans: { spans: ExportedSpan[] }[] }[];
        };
        spans.push(...parsed.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((scope) => scope.spans)));
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const slack = await startSlackServer();
    const smtp = await startSmtpSink();
    const nats = await startNats();
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), "buildcast-otel-"));
    const config = join(dir, "config.yaml");
    writeFileSync(
      config,
      [
        "routes:",
        "  - name: failures",
        "    on: [failed]",
        "    slack: { channel: CTRACE }",
        "    email: { to: [team@example.com] }",
      ].join("\n"),
    );
    const gateway = await startGatewayProcess({
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      BUILDCAST_SPOOL_DIR: join(dir, "spool"),
      BUILDCAST_CONFIG: config,
      SLACK_BOT_TOKEN: "xoxb-trace",
      SLACK_API_URL: slack.apiUrl,
      SMTP_URL: smtp.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: "200",
    });
    try {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const caller = "00f067aa0ba902b7";
      const result = await postGithub(
        gateway.url,
        "workflow_run",
        workflowRun({ runId: 501, status: "completed", conclusion: "failure", at: 9 }),
        { headers: { traceparent: `00-${traceId}-${caller}-01` } },
      );
      assert.equal(result.status, 202);
      const named = (name: string) => spans.find((span) => span.traceId === traceId && span.name === name);
      const wanted = [
        "POST /webhooks/github",
        "publish build.pipeline.finished.v1",
        "consume status-store",
        "consume notify-slack",
        "consume notify-email",
        "deliver slack",
        "deliver email",
      ];
      const deadline = Date.now() + 30_000;
      while (wanted.some((name) => !named(name)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const span = (name: string): ExportedSpan => {
        const found = named(name);
        assert.ok(found, `span "${name}" in trace ${traceId}; seen: ${spans.map((s) => s.name).join(", ")}`);
        return found;
      };
      const parentOf = (name: string) => span(name).parentSpanId;
      assert.equal(parentOf("POST /webhooks/github"), caller, "the CI system's traceparent is the parent");
      assert.equal(parentOf("publish build.pipeline.finished.v1"), span("POST /webhooks/github").spanId);
      const publish = span("publish build.pipeline.finished.v1").spanId;
      for (const consumer of ["status-store", "notify-slack", "notify-email"]) {
        assert.equal(parentOf(`consume ${consumer}`), publish, `consume ${consumer} follows the publish`);
      }
      assert.equal(parentOf("deliver slack"), span("consume notify-slack").spanId);
      assert.equal(parentOf("deliver email"), span("consume notify-email").spanId);
      // SpanKind in OTLP: 2 server, 3 client, 4 producer, 5 consumer
      assert.equal(span("publish build.pipeline.finished.v1").kind, 4);
      assert.equal(span("deliver slack").kind, 3, "a delivery is a call to Slack's API");
      assert.equal(span("deliver email").kind, 3);
    } finally {
      await gateway.terminate();
      await nats.dispose();
      await redis.dispose();
      collector.close();
      await slack.close();
      await smtp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
