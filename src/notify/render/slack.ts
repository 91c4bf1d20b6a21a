import type { NoticeView, Tone } from "../view.ts";
import { formatDuration } from "../view.ts";
import { safeUrl } from "../../events/web-url.ts";
import { clip, oneLine } from "./text.ts";

export interface MrkdwnText {
  readonly type: "mrkdwn";
  readonly text: string;
}

export type SlackBlock =
  | { readonly type: "section"; readonly text: MrkdwnText; readonly fields?: readonly MrkdwnText[] }
  | { readonly type: "section"; readonly fields: readonly MrkdwnText[] }
  | { readonly type: "context"; readonly elements: readonly MrkdwnText[] };

export interface SlackMessage {
  /** the notification/fallback text */
  readonly text: string;
  readonly blocks: readonly SlackBlock[];
}

/**
 * Slack's limits: https://api.slack.com/reference/block-kit/blocks. `blocksText` is all the
 * text of one message's blocks together: past about 12,000 characters Slack refuses the
 * message with msg_blocks_too_long (https://github.com/slackapi/bolt-js/issues/2509).
 */
export const SLACK_LIMITS = {
  blocks: 50,
  text: 4000,
  sectionText: 3000,
  field: 2000,
  fields: 10,
  blocksText: 12_000,
} as const;

const EMOJI: Record<Tone, string> = {
  failure: ":red_circle:",
  success: ":large_green_circle:",
  running: ":large_yellow_circle:",
  neutral: ":white_circle:",
};

/**
 * Escapes provider text for mrkdwn. With `<`, `>` and `&` escaped, nothing from a payload can
 * form a control sequence: no <!channel>, <!here>, <@U…> or <url|label> injection.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A link when the URL is http(s), else the bare label; the label is escaped either way. */
export function slackLink(url: string | null, label: string): string {
  const safe = safeUrl(url);
  const text = escapeMrkdwn(label);
  if (safe === null) return text;
  const href = safe.replace(/\|/g, "%7C").replace(/</g, "%3C").replace(/>/g, "%3E");
  // the first "|" ends the URL, so a "|" in the label is harmless, but keep it unambiguous
  return `<${href}|${text.replace(/\|/g, "¦")}>`;
}

function runLabel(view: NoticeView): string {
  const number = view.runNumber === null ? "" : ` #${view.runNumber}`;
  return clip(oneLine(`${view.pipeline}${number}`), 150);
}

function authorText(view: NoticeView, mentionAuthor: boolean): string {
  // slackId comes from our validated config (U…/W…), never from a payload
  if (mentionAuthor && view.author.slackId !== null) return `<@${view.author.slackId}>`;
  return view.author.name === null ? "unknown" : escapeMrkdwn(clip(oneLine(view.author.name), 100));
}

/**
 * Packs lines into sections of at most `maxChars`, at most `maxSections` of them; what does
 * not fit is counted in a last "…and N more" line, always against the whole list.
 */
function packLines(
  lines: readonly string[],
  maxChars: number,
  maxSections: number,
  maxLines = Infinity,
): string[] {
  const sections: string[] = [];
  let current = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const last = sections.length === maxSections - 1;
    const left = lines.length - i;
    const more = `\n…and ${left} more`;
    // the last section keeps room to say how many lines it could not hold
    const room = last && left > 1 ? maxChars - more.length : maxChars;
    const joined = current === "" ? line : `${current}\n${line}`;
    if (i >= maxLines || (joined.length > room && (last || current === ""))) {
      sections.push(current === "" ? more.slice(1) : `${current}${more}`);
      return sections;
    }
    if (joined.length > room) {
      sections.push(current);
      current = "";
      i--; // the line starts the next section
      continue;
    }
    current = joined;
  }
  if (current !== "") sections.push(current);
  return sections;
}

/**
 * The longest line of a failed job. Its link is whatever the provider sent (a check run's
 * details_url is the app's): a line longer than a section holds would be left out, so a link
 * that makes it longer than this is left out instead and the job keeps its line.
 */
const MAX_JOB_LINE = 1000;

function failedJobLines(view: NoticeView): string[] {
  return view.failedJobs.map((job) => {
    const name = clip(oneLine(job.name), 150);
    const suffix = job.allowFailure ? " _(allowed to fail)_" : "";
    const line = `• ${slackLink(job.url, name)}${suffix}`;
    return line.length <= MAX_JOB_LINE ? line : `• ${slackLink(null, name)}${suffix}`;
  });
}

/**
 * A section's text with its links, or, when they take it past the 3,000 characters Slack
 * takes (invalid_blocks), with their labels alone: a run's link is whatever its CI sent (a
 * commit status's target_url, a deployment's log_url, pre-signed with kilobytes of query).
 */
function sectionText(render: (link: typeof slackLink) => string): string {
  const linked = render(slackLink);
  return linked.length <= SLACK_LIMITS.sectionText ? linked : render((_url, label) => slackLink(null, label));
}

export function fallbackText(view: NoticeView): string {
  const branch = view.branch === null ? "" : ` on ${view.branch}`;
  const raw = `${view.headline}: ${view.repository.name} ${runLabel(view)}${branch} (${view.commit.shortSha})`;
  return escapeMrkdwn(clip(oneLine(raw), 700));
}

/** The run's message: posted once, then updated in place as the run moves. */
export function renderSlackMessage(view: NoticeView, options: { mentionAuthor: boolean }): SlackMessage {
  const attempt = view.attempt > 1 ? ` (attempt ${view.attempt})` : "";
  const branch = view.branch === null ? "" : ` · \`${escapeMrkdwn(clip(oneLine(view.branch), 150))}\``;
  const header = sectionText((link) => {
    const pr = view.pullRequest === null ? "" : ` · ${link(view.pullRequest.url, view.pullRequest.label)}`;
    return (
      `${EMOJI[view.tone]} *${escapeMrkdwn(view.headline)}* · ${link(view.runUrl, runLabel(view))}${attempt}\n` +
      `${link(view.repository.url, clip(view.repository.name, 200))}${branch}${pr}`
    );
  });

  const title = view.commit.title === null ? "" : ` ${escapeMrkdwn(clip(oneLine(view.commit.title), 200))}`;
  const fields: MrkdwnText[] = [
    { type: "mrkdwn", text: `*Commit*\n${slackLink(view.commit.url, view.commit.shortSha)}${title}` },
    { type: "mrkdwn", text: `*Author*\n${authorText(view, options.mentionAuthor)}` },
  ];
  if (view.durationMs !== null) {
    fields.push({ type: "mrkdwn", text: `*Duration*\n${formatDuration(view.durationMs)}` });
  }
  if (view.failedJobs.length > 0) {
    fields.push({ type: "mrkdwn", text: `*Failed jobs*\n${view.failedJobs.length} of ${view.jobCount}` });
  }

  const blocks: SlackBlock[] = [
    { type: "section", text: { type: "mrkdwn", text: header } },
    { type: "section", fields: fields.slice(0, SLACK_LIMITS.fields) },
  ];
  if (view.failedJobs.length > 0) {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: packLines(failedJobLines(view), 1500, 1, 20).join("") },
    });
  }
  const context = [escapeMrkdwn(view.provider)];
  if (view.trigger !== null) context.push(escapeMrkdwn(clip(oneLine(view.trigger), 50)));
  if (view.dashboardUrl !== null) context.push(slackLink(view.dashboardUrl, "status page"));
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: context.join(" · ") }] });

  return { text: fallbackText(view), blocks: blocks.slice(0, SLACK_LIMITS.blocks) };
}

/** The thread reply under a failed run's message: every failed job with its link. */
export function renderSlackFailureThread(view: NoticeView): SlackMessage {
  const lines = failedJobLines(view);
  const heading = sectionText(
    (link) =>
      `*${lines.length} failed job${lines.length === 1 ? "" : "s"}* in ${link(view.runUrl, runLabel(view))}`,
  );
  const blocks: SlackBlock[] = [{ type: "section", text: { type: "mrkdwn", text: heading } }];
  // several sections so long lists stay within the 3,000 characters of one, and only as many
  // as keep the reply (heading included) under what Slack takes for a whole message
  const sectionChars = SLACK_LIMITS.sectionText - 100;
  const sections = Math.floor((SLACK_LIMITS.blocksText - 1000) / sectionChars);
  for (const text of packLines(lines, sectionChars, sections)) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text } });
  }
  const names = view.failedJobs.map((job) => oneLine(job.name)).join(", ");
  // escaping grows text at most fivefold (& → &amp;): 700 raw characters stay under 4,000
  return { text: escapeMrkdwn(clip(`Failed jobs: ${names}`, 700)), blocks };
}
