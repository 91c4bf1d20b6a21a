import type { Transition } from "../../config/schema.ts";
import type { NoticeView, Tone } from "../view.ts";
import { formatDuration } from "../view.ts";
import { safeUrl } from "../../events/web-url.ts";
import { clip, oneLine } from "./text.ts";

export interface EmailContent {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const VERBS: Record<Transition, string> = {
  failed: "failed",
  still_failing: "still failing",
  fixed: "fixed",
  succeeded: "succeeded",
  started: "started",
  canceled: "canceled",
};

const COLOURS: Record<Tone, string> = {
  failure: "#cf222e",
  success: "#1a7f37",
  running: "#bf8700",
  neutral: "#6e7781",
};

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/**
 * Provider text has long unbroken words (dependabot branches, paths in job names): without
 * this they widen the table past a phone's screen. Inline, as Gmail drops <style>; `word-break:
 * break-word` for clients that predate `overflow-wrap: anywhere`.
 */
const WRAP = "overflow-wrap:anywhere;word-break:break-word";

function htmlLink(url: string | null, label: string): string {
  const safe = safeUrl(url);
  return safe === null ? escapeHtml(label) : `<a href="${escapeHtml(safe)}">${escapeHtml(label)}</a>`;
}

/** `[acme/api] CI failed on main (a1b2c3d)`: one line, no control characters. */
export function emailSubject(view: NoticeView, transition: Transition): string {
  const where = view.branch === null ? "" : ` on ${view.branch}`;
  return clip(
    oneLine(
      `[${view.repository.name}] ${view.pipeline} ${VERBS[transition]}${where} (${view.commit.shortSha})`,
    ),
    250,
  );
}

function facts(view: NoticeView): Array<[label: string, value: string, url: string | null]> {
  const rows: Array<[string, string, string | null]> = [
    ["Repository", view.repository.name, view.repository.url],
  ];
  if (view.branch !== null) rows.push([view.tag ? "Tag" : "Branch", view.branch, null]);
  const number = view.runNumber === null ? "" : ` #${view.runNumber}`;
  const attempt = view.attempt > 1 ? ` (attempt ${view.attempt})` : "";
  rows.push(["Pipeline", `${view.pipeline}${number}${attempt}`, view.runUrl]);
  const title = view.commit.title === null ? "" : ` ${oneLine(view.commit.title)}`;
  rows.push(["Commit", clip(`${view.commit.shortSha}${title}`, 200), view.commit.url]);
  rows.push(["Author", view.author.name ?? "unknown", null]);
  if (view.durationMs !== null) rows.push(["Duration", formatDuration(view.durationMs), null]);
  if (view.pullRequest !== null) {
    const label = view.provider === "gitlab" ? "Merge request" : "Pull request";
    rows.push([label, view.pullRequest.label, view.pullRequest.url]);
  }
  return rows;
}

export function renderEmail(view: NoticeView, transition: Transition): EmailContent {
  const subject = emailSubject(view, transition);
  const rows = facts(view);
  const jobs = view.failedJobs.slice(0, 100);
  const omitted = view.failedJobs.length - jobs.length;
  const jobName = (job: (typeof jobs)[number]) =>
    `${clip(oneLine(job.name), 150)}${job.allowFailure ? " (allowed to fail)" : ""}`;

  const text = [
    `${view.headline}: ${view.repository.name} ${view.pipeline}`,
    "",
    ...rows.map(
      ([label, value, url]) => `${label}: ${value}${url && safeUrl(url) ? ` <${safeUrl(url)}>` : ""}`,
    ),
    ...(jobs.length > 0
      ? [
          "",
          "Failed jobs:",
          ...jobs.map((job) => `- ${jobName(job)}${safeUrl(job.url) ? ` <${safeUrl(job.url)}>` : ""}`),
        ]
      : []),
    ...(omitted > 0 ? [`…and ${omitted} more`] : []),
    ...(view.dashboardUrl && safeUrl(view.dashboardUrl)
      ? ["", `Status page: ${safeUrl(view.dashboardUrl)}`]
      : []),
    "",
    "-- ",
    "Sent by buildcast",
  ].join("\n");

  const html = [
    "<!doctype html>",
    '<html><body style="font-family:sans-serif;font-size:14px">',
    `<h2 style="color:${COLOURS[view.tone]};margin:0 0 12px;${WRAP}">${escapeHtml(view.headline)}: ${htmlLink(view.runUrl, view.pipeline)}</h2>`,
    '<table cellpadding="4" style="border-collapse:collapse">',
    ...rows.map(
      ([label, value, url]) =>
        `<tr><th align="left" valign="top" style="white-space:nowrap">${escapeHtml(label)}</th><td style="${WRAP}">${htmlLink(url, value)}</td></tr>`,
    ),
    "</table>",
    ...(jobs.length > 0
      ? [
          "<h3>Failed jobs</h3>",
          `<ul style="${WRAP}">`,
          ...jobs.map((job) => `<li>${htmlLink(job.url, jobName(job))}</li>`),
          ...(omitted > 0 ? [`<li>…and ${omitted} more</li>`] : []),
          "</ul>",
        ]
      : []),
    ...(view.dashboardUrl !== null ? [`<p>${htmlLink(view.dashboardUrl, "Status page")}</p>`] : []),
    '<p style="color:#6e7781">Sent by buildcast</p>',
    "</body></html>",
  ].join("\n");

  return { subject, text, html };
}

/** Message-IDs derive from notice ids, so a retried send keeps its id and fixed threads under failed. */
export function messageId(noticeId: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? "buildcast.invalid";
  return `<${noticeId}@${domain}>`;
}
