import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { applyToRecord, type EntityRecord } from "../../src/notify/record.ts";
import { renderEmail } from "../../src/notify/render/email.ts";
import { buildView } from "../../src/notify/view.ts";
import { buildEvent } from "../helpers/events.ts";

let browser: Browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
    ],
  });
});

after(async () => {
  await browser.close();
});

/** A failure mail's HTML whose provider text has long unbroken words, as real ones do. */
function failureMail(): string {
  const branch = "dependabot/npm_and_yarn/packages/web-client/typescript-eslint/eslint-plugin-8.18.1";
  const run = buildEvent({
    status: "failure",
    branch,
    title: `Bump @typescript-eslint/eslint-plugin from 8.18.0 to 8.18.1 in /packages/web-client ${"x".repeat(120)}`,
  });
  const job = buildEvent({
    status: "failure",
    branch,
    job: {
      id: "1",
      name: "test (ubuntu-latest, node-20.x, packages/web-client/src/components/very-long-path)",
    },
  });
  let record: EntityRecord = applyToRecord(null, run.subject, { data: run.data }).record;
  record = applyToRecord(record, run.subject, { job: job.data }).record;
  record = applyToRecord(record, run.subject, {
    notice: { transition: "failed", attempt: 1, noticeId: "n1" },
  }).record;
  return renderEmail(buildView({ ...record, data: run.data }, [], null), "failed").html;
}

describe("an e-mail on a phone", () => {
  it("fits a 360 px wide screen: long branch names, commit titles and job names wrap", async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 640 } });
    try {
      await page.setContent(failureMail());
      const [scrollWidth, clientWidth] = await page.evaluate(() => [
        document.documentElement.scrollWidth,
        document.documentElement.clientWidth,
      ]);
      assert.ok(
        scrollWidth <= clientWidth,
        `the mail is ${scrollWidth} px wide on a ${clientWidth} px screen`,
      );
      // the values still read whole: wrapped, not cut off
      const text = await page.evaluate(() => document.body.innerText);
      assert.match(text, /dependabot\/npm_and_yarn\/packages\/web-client/);
    } finally {
      await page.close();
    }
  });
});
