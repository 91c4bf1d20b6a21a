import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { CHROMIUM_ARGS, memoryView, serveView } from "../helpers/dashboard.ts";

/** What a screen reader is told: the text of the page's polite live regions, but the connection's. */
const announced = (): string =>
  [...document.querySelectorAll('[aria-live="polite"], [role="status"]')]
    .filter((region) => region.id !== "live")
    .map((region) => region.textContent ?? "")
    .join(" ")
    .trim();

/** WCAG contrast of an element's border against its own background and the page's, in the page. */
const BORDER_CONTRAST = `(selector) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
  const el = document.querySelector(selector);
  const border = rgb(getComputedStyle(el).borderTopColor);
  const page = rgb(getComputedStyle(document.body).backgroundColor);
  return Math.min(ratio(border, rgb(getComputedStyle(el).backgroundColor)), ratio(border, page));
}`;

describe("dashboard for keyboard and screen-reader users", () => {
  let browser: Browser;

  before(async () => {
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
  });

  it("tells a screen reader when a branch starts or stops failing, not every live update", async () => {
    const { view, set } = memoryView("acme/spoken");
    set("main", "1", "success");
    set("develop", "2", "success");
    const server = await serveView(view);
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.locator("#live.on").waitFor();
      assert.equal(await page.evaluate(announced), "", "nothing to say on load");

      // a new run starting is a live update, not news
      set("main", "3", "running");
      await page.locator('tr.row[data-state="running"]').waitFor({ timeout: 10_000 });
      await page.waitForTimeout(200);
      assert.equal(await page.evaluate(announced), "", "a run starting is not announced");

      set("main", "4", "failure");
      await page.waitForFunction(announced, undefined, { timeout: 10_000 });
      assert.match(await page.evaluate(announced), /acme\/spoken main.*failing/);

      set("main", "5", "success");
      await page.waitForFunction(
        (before) => {
          const text = [...document.querySelectorAll('[aria-live="polite"], [role="status"]')]
            .filter((region) => region.id !== "live")
            .map((region) => region.textContent ?? "")
            .join(" ");
          return text.trim() !== before;
        },
        await page.evaluate(announced),
        { timeout: 10_000 },
      );
      assert.match(await page.evaluate(announced), /acme\/spoken main.*passing/);

      // a fix being tried is not the fix: failing, then a run starting, says nothing until
      // that run has passed
      set("develop", "6", "failure");
      await page.waitForFunction(
        () => /develop is failing/.test(document.getElementById("announce")?.textContent ?? ""),
        undefined,
        {
          timeout: 10_000,
        },
      );
      set("develop", "7", "running");
      await page.locator('tr.row[data-state="running"]', { hasText: "develop" }).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(1_500);
      assert.match(
        await page.evaluate(announced),
        /develop is failing/,
        "a run starting after a failure is not news",
      );
      set("develop", "8", "success");
      await page.waitForFunction(
        () =>
          /develop is no longer failing: passing/.test(
            document.getElementById("announce")?.textContent ?? "",
          ),
        undefined,
        { timeout: 10_000 },
      );

      // a burst (a CI outage, a catch-up after sleep) is summed up, not read out row by row
      for (const [i, branch] of ["b1", "b2", "b3", "b4", "b5"].entries())
        set(branch, String(10 + i), "failure");
      await page.waitForFunction(
        () => document.getElementById("announce")?.textContent?.includes("branches"),
        undefined,
        { timeout: 10_000 },
      );
      assert.equal(await page.evaluate(announced), "5 branches started failing");
    } finally {
      await page.close();
      await server.close();
    }
  });

  it("tells a screen reader how many branches a filter leaves", async () => {
    const { view, set } = memoryView("acme/filtered");
    for (const [i, branch] of ["main", "develop", "feature/payments"].entries())
      set(branch, String(i + 1), "success");
    set("release", "9", "failure");
    const server = await serveView(view);
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.locator("#live.on").waitFor();
      const said = (text: string) =>
        page.waitForFunction(
          (expected) => document.getElementById("announce")?.textContent?.trim() === expected,
          text,
          {
            timeout: 5_000,
          },
        );

      await page.locator("body").press("/");
      await page.keyboard.type("payments");
      await said("1 of 4 branches shown");
      await page.keyboard.type("x");
      await said("no branch matches the filter");
      await page.keyboard.press("Escape");
      await said("all 4 branches shown");

      // the state counts are buttons: pressing one filters too
      await page.locator('#counts button[data-state="failing"]').press("Enter");
      await said("1 of 4 branches shown");
    } finally {
      await page.close();
      await server.close();
    }
  });

  it("keeps the column headers for a screen reader when rows become cards on a phone", async () => {
    const { view, set } = memoryView("acme/phone");
    set("main", "1", "failure");
    const server = await serveView(view);
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    try {
      await page.goto(`${server.url}/`);
      await page.locator("tr.row").waitFor();
      assert.equal(
        await page.locator("tr.row").evaluate((el) => getComputedStyle(el).display),
        "grid",
        "a card",
      );
      // what the accessibility tree holds, as the browser hands it to VoiceOver or TalkBack
      const cdp = await page.context().newCDPSession(page);
      const { nodes } = (await cdp.send("Accessibility.getFullAXTree")) as {
        nodes: { ignored: boolean; role?: { value: string }; name?: { value: string } }[];
      };
      const headers = nodes
        .filter((node) => !node.ignored && node.role?.value === "columnheader")
        .map((node) => node.name?.value.toLowerCase());
      assert.deepEqual(headers, [
        "state",
        "repository",
        "branch",
        "pipelines · latest commit",
        "last run",
        "duration",
        "trend",
      ]);
      const thead = await page.locator("thead").boundingBox();
      assert.ok(thead === null || thead.height <= 1, "the header row is not seen on a phone");
    } finally {
      await page.close();
      await server.close();
    }
  });

  it("says why the sign-in form came back, to the field a screen reader lands on", async () => {
    const { view } = memoryView("acme/guarded");
    const server = await serveView(view, { apiToken: "a11y-token-0123456789" });
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.fill("#token", "not-the-token");
      await page.press("#token", "Enter");
      await page.getByText("That token is not valid.").waitFor();
      // the form comes back with focus in the field: what the reader hears is its name and description
      assert.equal(await page.evaluate(() => document.activeElement?.id), "token");
      const cdp = await page.context().newCDPSession(page);
      const { nodes } = (await cdp.send("Accessibility.getFullAXTree")) as {
        nodes: { role?: { value: string }; description?: { value: string } }[];
      };
      const field = nodes.find((node) => node.role?.value === "textbox");
      assert.equal(field?.description?.value, "That token is not valid.");
    } finally {
      await page.close();
      await server.close();
    }
  });

  it("never scrolls sideways, from a phone to a tablet held upright or a laptop zoomed to 150 %", async () => {
    const { view, set } = memoryView("acme/api");
    set("main", "1", "failure");
    set("feature/payments", "2", "running");
    const server = await serveView(view);
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.locator("#live.on").waitFor();
      const overflows: string[] = [];
      // 768, 810, 820, 834: iPads upright; 853: a 1280 px laptop at 150 %; 1280 at 200 % is 640
      for (const width of [320, 390, 640, 768, 810, 820, 834, 853, 900, 1024, 1280]) {
        await page.setViewportSize({ width, height: 800 });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 0) overflows.push(`${width} px: ${overflow} px too wide`);
      }
      assert.deepEqual(overflows, [], "the page fits its window at every width");
    } finally {
      await page.close();
      await server.close();
    }
  });

  it("draws the filter box and the token field with an edge one can see (3:1), light and dark", async () => {
    const { view, set } = memoryView("acme/edges");
    set("main", "1", "success");
    const open = await serveView(view);
    const guarded = await serveView(view, { apiToken: "a11y-token-0123456789" });
    const weak: string[] = [];
    try {
      for (const colorScheme of ["light", "dark"] as const) {
        const page = await browser.newPage({ colorScheme });
        for (const [url, selector] of [
          [`${open.url}/`, "#filter"],
          [`${guarded.url}/`, "#token"],
        ] as const) {
          await page.goto(url);
          const contrast = await page.evaluate<number>(`(${BORDER_CONTRAST})(${JSON.stringify(selector)})`);
          if (contrast < 3) weak.push(`${selector} ${colorScheme}: ${contrast.toFixed(2)}:1`);
        }
        await page.close();
      }
      assert.deepEqual(weak, [], "an input's edge is what tells it is one (WCAG 1.4.11)");
    } finally {
      await open.close();
      await guarded.close();
    }
  });
});
