import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { MAX_CATCH_UP_ROWS } from "../../src/status/sse.ts";
import { CHROMIUM_ARGS, memoryView, serveView } from "../helpers/dashboard.ts";

describe("dashboard live indicator", () => {
  let browser: Browser;

  before(async () => {
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
  });

  it("says the rows are stale while the gateway cannot reach its status store, and live again after", async () => {
    const { view, set } = memoryView("acme/stale");
    set("main", "1", "success");
    let connected = true;
    const server = await serveView(view, { storeConnected: () => connected });
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.locator("#live.on").waitFor();
      assert.equal(await page.locator("#live").textContent(), "live");

      // NATS is away: webhooks wait in the spool and nothing on the page can change, though
      // the page's own connection to the gateway is fine
      connected = false;
      await page.locator("#live:not(.on)").waitFor({ timeout: 5_000 });
      assert.match((await page.locator("#live").textContent()) ?? "", /stale/);

      connected = true;
      set("main", "2", "failure");
      await page.locator("#live.on").waitFor({ timeout: 5_000 });
      assert.equal(await page.locator("#live").textContent(), "live");
      await page.locator('tr.row[data-state="failing"]').waitFor({ timeout: 5_000 });
    } finally {
      await page.close();
      await server.close();
    }
  });

  it("on a fresh install, says where to point the webhooks, and makes way for the first build", async () => {
    const { view, set } = memoryView("acme/first");
    const server = await serveView(view);
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.locator("#live.on").waitFor();
      const empty = page.locator("#empty");
      assert.equal(await empty.isVisible(), true);
      const text = (await empty.innerText()).replace(/\s+/g, " ");
      assert.match(
        text,
        new RegExp(`${server.url}/webhooks/github`),
        "GitHub's payload URL, as this page is reached",
      );
      assert.match(text, /GITHUB_WEBHOOK_SECRET/);
      assert.match(text, /Workflow runs/);
      assert.match(text, new RegExp(`${server.url}/webhooks/gitlab`));
      assert.match(text, /GITLAB_WEBHOOK_TOKEN/);
      assert.match(text, /Pipeline/);

      set("main", "1", "running");
      await page.locator("tr.row").waitFor({ timeout: 5_000 });
      assert.equal(await empty.isVisible(), false);
    } finally {
      await page.close();
      await server.close();
    }
  });
  it("keeps keyboard focus among the rows when a live update hides the row that held it", async () => {
    const { view, set } = memoryView("acme/keyboard");
    for (const [branch, runId] of [
      ["alpha", "1"],
      ["bravo", "2"],
      ["charlie", "3"],
    ] as const) {
      set(branch, runId, "failure");
    }
    const server = await serveView(view);
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/?state=failing`);
      await page.locator("#live.on").waitFor();
      const bravo = page.locator("tr.row", { hasText: "bravo" });
      await bravo.locator("a").first().focus();

      // bravo is fixed: the failing filter hides its row, and the link that had focus with it
      set("bravo", "4", "success");
      await bravo.and(page.locator("[hidden]")).waitFor({ state: "attached", timeout: 5_000 });
      const focused = await page.evaluate(() => {
        const row = document.activeElement?.closest("tr.row");
        return row && !(row as HTMLElement).hidden ? (row.textContent ?? "") : null;
      });
      assert.ok(focused !== null, "focus stays on a row one can see, not the top of the page");
      assert.match(focused, /alpha|charlie/, "a neighbouring row");
    } finally {
      await page.close();
      await server.close();
    }
  });
  it("keeps keyboard focus among the rows when a live update removes the row that held it", async () => {
    const { view, set, remove } = memoryView("acme/expired");
    for (const [branch, runId] of [
      ["alpha", "1"],
      ["bravo", "2"],
      ["charlie", "3"],
    ] as const) {
      set(branch, runId, "success");
    }
    const server = await serveView(view);
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.locator("#live.on").waitFor();
      const bravo = page.locator("tr.row", { hasText: "bravo" });
      await bravo.locator("a").first().focus();

      // bravo's list expired: its row goes, and the link that had focus with it
      remove("bravo");
      await bravo.waitFor({ state: "detached", timeout: 5_000 });
      const focused = await page.evaluate(
        () => document.activeElement?.closest("tr.row")?.textContent ?? null,
      );
      assert.ok(focused !== null, "focus stays on a row, not the top of the page");
      assert.match(focused, /alpha|charlie/, "a neighbouring row");
    } finally {
      await page.close();
      await server.close();
    }
  });

  it("loads itself anew when more rows changed while it was away than the feed catches up on", async () => {
    const { view, set } = memoryView("acme/away");
    const rows = MAX_CATCH_UP_ROWS + 20;
    for (let n = 1; n <= rows; n++) set(`feature/${n}`, String(n), "success");
    // the first page is rendered as if before every one of those builds: its feed asks for
    // them all (?since=0), and is told to reload rather than sent them
    let renders = 0;
    const server = await serveView({ ...view, revision: () => (renders++ === 0 ? 0 : view.revision()) });
    const page = await browser.newPage();
    const loads: string[] = [];
    page.on("request", (request) => {
      if (request.isNavigationRequest()) loads.push(request.url());
    });
    try {
      await page.goto(`${server.url}/?state=passing`);
      await page.waitForFunction(
        (n) =>
          document.querySelectorAll("tr.row").length === n &&
          (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined)?.type ===
            "reload",
        rows,
        { timeout: 10_000 },
      );
      await page.locator("#live.on").waitFor({ timeout: 5_000 });
      assert.deepEqual(
        loads,
        [`${server.url}/?state=passing`, `${server.url}/?state=passing`],
        "one reload, with the view's filters",
      );
    } finally {
      await page.close();
      await server.close();
    }
  });
});
