import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { chromium, type Browser } from "playwright-core";
import type { Status } from "../../src/events/schema.ts";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { buildEvent, publishEvent } from "../helpers/events.ts";
import { postGithub, readFixture } from "../helpers/webhooks.ts";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A real workflow_run payload, rewritten to one run on acme/web main in the given state. */
function workflowRun(conclusion: "success" | "failure", runId: number, minutesAgo: number): string {
  const time = (ago: number) => new Date(Math.floor(Date.now() / 1000) * 1000 - ago * 60_000).toISOString();
  const payload = JSON.parse(readFixture("github/workflow_run.completed.1.json")) as {
    workflow_run: Record<string, unknown>;
    repository: Record<string, unknown>;
  };
  Object.assign(payload.workflow_run, {
    id: runId,
    name: "CI",
    head_branch: "main",
    status: "completed",
    conclusion,
    run_number: runId % 1000,
    created_at: time(minutesAgo + 6),
    run_started_at: time(minutesAgo + 6),
    updated_at: time(minutesAgo),
  });
  Object.assign(payload.repository, { full_name: "acme/web", name: "web" });
  return JSON.stringify(payload);
}

describe("dashboard in a browser", () => {
  let gateway: TestGateway;
  let browser: Browser;
  let nc: NatsConnection;

  before(async () => {
    gateway = await startTestGateway();
    nc = await connect({ servers: gateway.nats.url });
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await nc?.drain();
    await gateway?.close();
  });

  it("turns a row red without reload when a failing build's webhook arrives", async () => {
    const first = await postGithub(gateway.url, "workflow_run", workflowRun("success", 5001, 40), {
      delivery: "e2e-1",
    });
    assert.ok(first.status >= 200 && first.status < 300, `webhook accepted: ${first.status}`);

    const page = await browser.newPage();
    // the first webhook reaches the store asynchronously: load once it is there
    const row = page.locator("tr.row", { hasText: "acme/web" });
    for (let i = 0; i < 100 && (await row.count()) === 0; i++) {
      await page.goto(`${gateway.url}/`);
      if ((await row.count()) === 0) await page.waitForTimeout(100);
    }
    await row.waitFor();
    assert.equal(await row.getAttribute("data-state"), "passing");
    const passingColour = await row.locator(".pill").evaluate((el) => getComputedStyle(el).color);
    await page.locator("#live.on").waitFor();
    await page.evaluate(() => {
      (window as unknown as { marker: boolean }).marker = true;
    });

    const second = await postGithub(gateway.url, "workflow_run", workflowRun("failure", 5002, 25), {
      delivery: "e2e-2",
    });
    assert.ok(second.status >= 200 && second.status < 300);
    await page.locator('tr.row[data-state="failing"]', { hasText: "acme/web" }).waitFor({ timeout: 10_000 });
    const failingColour = await row.locator(".pill").evaluate((el) => getComputedStyle(el).color);
    assert.notEqual(failingColour, passingColour, "the state colour changed");
    assert.equal(
      await page.evaluate(() => (window as unknown as { marker?: boolean }).marker),
      true,
      "no reload happened",
    );
    await page.close();
  });

  it("renders well on a phone and in dark mode, and saves the screenshot for the docs", async () => {
    const js = jetstream(nc);
    // recent times, so the page reads "2 h ago" rather than years
    const start = Math.floor(Date.now() / 60_000) * 60_000 - 15 * 3_600_000;
    const at = (h: number, m: number) => new Date(start + h * 3_600_000 + m * 60_000).toISOString();
    const history: [string, string, string, string, Status[]][] = [
      [
        "github",
        "acme/api",
        "main",
        "CI",
        ["success", "success", "failure", "success", "success", "success", "success"],
      ],
      ["github", "acme/api", "main", "Release", ["success", "success", "success"]],
      ["github", "acme/api", "feature/payments-v2", "CI", ["failure", "success", "failure", "failure"]],
      [
        "gitlab",
        "platform/infra/terraform",
        "main",
        "pipeline",
        ["success", "success", "success", "canceled", "success", "running"],
      ],
      [
        "gitlab",
        "platform/infra/terraform",
        "renovate/hashicorp-aws-5.x",
        "pipeline",
        ["success", "success"],
      ],
      [
        "github",
        "acme/web",
        "release/2024.05",
        "Deploy",
        ["success", "failure", "success", "success", "canceled"],
      ],
    ];
    let runId = 9000;
    for (const [provider, repository, branch, pipeline, statuses] of history) {
      for (const [i, status] of statuses.entries()) {
        runId++;
        const minutes = 3 + ((runId * 7) % 9);
        await publishEvent(
          js,
          buildEvent({
            provider: provider as "github" | "gitlab",
            repository,
            branch,
            pipeline,
            runId: String(runId),
            status,
            title:
              [
                "Bump dependencies",
                "Fix flaky payment test",
                "Add retry to webhook client",
                "Refactor config loader",
              ][runId % 4] ?? null,
            author: ["Ada Lovelace", "Grace Hopper", "Alan Turing"][runId % 3] ?? null,
            createdAt: at(8 + i, 0),
            startedAt: at(8 + i, 1),
            at: at(8 + i, 1 + minutes),
            durationMs: status === "running" ? null : minutes * 60_000 + (runId % 50) * 1000,
          }),
        );
      }
    }
    await publishEvent(
      js,
      buildEvent({
        repository: "acme/api",
        branch: "feature/payments-v2",
        runId: "9014",
        status: "failure",
        at: at(11, 9),
        job: { id: "j-int", name: "integration tests" },
      }),
    );

    const page = await browser.newPage({ viewport: { width: 1280, height: 640 }, deviceScaleFactor: 1 });
    const rows = page.locator("tr.row");
    for (let i = 0; i < 100 && (await rows.count()) < 6; i++) {
      await page.goto(`${gateway.url}/`);
      if ((await rows.count()) < 6) await page.waitForTimeout(150);
    }
    assert.equal(await rows.count(), 6);
    await page.locator("#live.on").waitFor();
    // the README's picture is refreshed on request only, so a test run leaves the tree clean
    const shot =
      process.env.UPDATE_SCREENSHOTS === "1"
        ? "docs/dashboard.png"
        : join(tmpdir(), "buildcast-dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });

    await page.emulateMedia({ colorScheme: "dark" });
    const darkBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(darkBg, "rgb(15, 20, 25)", "dark mode follows prefers-color-scheme");

    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
    const display = await rows.first().evaluate((el) => getComputedStyle(el).display);
    assert.equal(display, "grid", "rows become cards on a narrow screen");
    await page.close();
  });
});
