import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
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
});
