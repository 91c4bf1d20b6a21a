import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { CHROMIUM_ARGS, memoryView, serveView } from "../helpers/dashboard.ts";

/** Counts what formatting dates costs in the page: formatters built, and Date's own locale calls. */
const COUNT_FORMATTING = `
  window.formatting = { formatters: 0, localeCalls: 0 };
  const Native = Intl.DateTimeFormat;
  Intl.DateTimeFormat = new Proxy(Native, {
    construct(target, args) { window.formatting.formatters++; return Reflect.construct(target, args); },
    apply(target, self, args) { window.formatting.formatters++; return Reflect.apply(target, self, args); },
  });
  for (const name of ["toLocaleString", "toLocaleDateString", "toLocaleTimeString"]) {
    const own = Date.prototype[name];
    Date.prototype[name] = function (...args) { window.formatting.localeCalls++; return own.apply(this, args); };
  }
`;

describe("dashboard times with many rows", () => {
  let browser: Browser;

  before(async () => {
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
  });

  it("writes every row's time with one formatter, and its 30 s refresh touches only times that changed", async () => {
    const { view, set } = memoryView("acme/many");
    const count = 300;
    for (let i = 0; i < count; i++) set(`branch-${String(i).padStart(3, "0")}`, String(i + 1), "success");
    const server = await serveView(view);
    const page = await browser.newPage();
    try {
      await page.clock.install();
      await page.addInitScript(COUNT_FORMATTING);
      await page.goto(`${server.url}/`);
      await page.locator("#live.on").waitFor();
      assert.equal(await page.locator("tr.row time").count(), count);
      const { formatters, localeCalls } = await page.evaluate(
        () => (window as unknown as { formatting: { formatters: number; localeCalls: number } }).formatting,
      );
      // each toLocaleString with options builds a formatter: 2,000 rows froze the page for 0.8 s
      assert.ok(
        formatters + localeCalls <= 2,
        `${count} hover times from one formatter, not one each: ${formatters} formatters, ${localeCalls} toLocaleString calls`,
      );

      // the times are a year old: they read the same after the refresh, and so are left alone
      await page.evaluate(() => {
        const seen = { mutations: 0 };
        (window as unknown as { seen: typeof seen }).seen = seen;
        new MutationObserver((records) => {
          seen.mutations += records.length;
        }).observe(document.getElementById("rows") as HTMLElement, {
          childList: true,
          subtree: true,
          characterData: true,
          attributes: true,
        });
      });
      await page.clock.runFor(31_000);
      const mutations = await page.evaluate(
        () => (window as unknown as { seen: { mutations: number } }).seen.mutations,
      );
      assert.equal(mutations, 0, "a refresh that changes no time rewrites none");
    } finally {
      await page.close();
      await server.close();
    }
  });
});
