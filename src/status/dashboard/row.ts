import { safeUrl } from "../../events/web-url.ts";
import { escapeHtml } from "../html.ts";
import { gitlabSequence } from "../../events/ref-status.ts";
import { rowSortKey, type BranchRow, type PipelineStatus } from "../queries.ts";
import { compareNewestFirst } from "../summary.ts";
import { formatAgo, formatDuration, knownTime } from "./format.ts";
import { renderTrend } from "./trend.ts";

/**
 * Provider text may be right-to-left: `dir="auto"` keeps it from swallowing what follows.
 * `after` is markup of ours (never provider text) that goes inside, after the text.
 */
const link = (href: string | null, text: string, cls = "", after = ""): string => {
  const url = safeUrl(href);
  const c = cls ? ` class="${cls}"` : "";
  return url
    ? `<a${c} href="${escapeHtml(url)}" rel="noopener noreferrer" dir="auto">${escapeHtml(text)}${after}</a>`
    : `<span${c} dir="auto">${escapeHtml(text)}${after}</span>`;
};

/**
 * A pipeline's chip. Its colour says its state, and so does text for who cannot tell the colours
 * apart: a screen reader, or red-green colour blindness (a glyph in the style sheet).
 */
function chip(p: PipelineStatus): string {
  const said = p.decides ? p.state : `${p.state}; does not decide this branch's state`;
  const text = link(
    p.run.url,
    p.pipeline || "pipeline",
    `chip${p.decides ? "" : " older"} s-${p.state}`,
    `<span class="sr"> (${said})</span>`,
  );
  return p.decides
    ? `<li>${text}</li>`
    : `<li title="does not decide this branch's state: a newer commit or pipeline was built since">${text}</li>`;
}

/**
 * The pipelines a row shows. On GitLab, a `workflow:name` may change with every run, and each
 * name is a pipeline of its own to the store: of the pipelines from one source (see
 * gitlabSequence) only the newest is shown, so a branch is not a wall of faded chips.
 */
function shownPipelines(row: BranchRow): readonly PipelineStatus[] {
  if (row.provider !== "gitlab") return row.pipelines;
  const newest = new Map<string, PipelineStatus>();
  for (const p of row.pipelines) {
    const sequence = gitlabSequence(p.run.trigger);
    const seen = newest.get(sequence);
    if (
      seen === undefined ||
      (p.decides && !seen.decides) ||
      (p.decides === seen.decides && compareNewestFirst(p.run, seen.run) < 0)
    ) {
      newest.set(sequence, p);
    }
  }
  return row.pipelines.filter((p) => newest.get(gitlabSequence(p.run.trigger)) === p);
}

/** One table row; also sent whole over the live feed, so the page and the feed never disagree. */
export function renderRow(row: BranchRow, now: number): string {
  // the commit the row's state is about: a newer run of an older commit (a late Codecov
  // status) would otherwise name that commit beside its newer commit's failure
  const decidingCommits = new Set(row.pipelines.filter((p) => p.decides).map((p) => p.run.commit.sha));
  const latest = row.runs.find((run) => decidingCommits.has(run.commit.sha)) ?? row.runs[0];
  const when = latest
    ? knownTime(latest.finishedAt ?? latest.startedAt ?? latest.createdAt ?? latest.updatedAt)
    : null;
  // a pipeline that no longer decides the row's state (it last ran for an older commit, or
  // GitLab built a newer pipeline) is shown faded, and its failed jobs are not listed
  const chips = shownPipelines(row).map(chip).join("");
  const author = latest?.commit.author?.name || latest?.commit.author?.username;
  const commit = latest
    ? `<div class="commit">${link(latest.commit.url, latest.commit.title ?? latest.commit.sha.slice(0, 8))}${
        author ? ` <span class="author">· <bdi>${escapeHtml(author)}</bdi></span>` : ""
      }</div>`
    : "";
  const deciding = row.pipelines.filter((p) => p.decides);
  const failed = deciding.flatMap((p) => p.run.failedJobs);
  // a run of many failed jobs lists some of them and counts the rest
  const failedCount = deciding.reduce((sum, p) => sum + (p.run.failedJobCount ?? p.run.failedJobs.length), 0);
  const failedList = failed.length
    ? `<div class="failed">failed: ${failed
        .slice(0, 4)
        .map((j) => link(j.url, j.name))
        .join(", ")}${failedCount > 4 ? ` +${failedCount - 4}` : ""}</div>`
    : "";
  // what the page's filter box searches: repository and branch
  const text = `${row.repository} ${row.branch}`.toLowerCase();
  return `<tr id="${row.id}" class="row s-${row.state}" data-state="${row.state}" data-sort="${escapeHtml(rowSortKey(row))}" data-text="${escapeHtml(text)}">
<td class="state"><span class="pill s-${row.state}">${row.state}</span></td>
<td class="repo">${link(row.repositoryUrl, row.repository)}<span class="provider">${row.provider}</span></td>
<td class="branch"><code dir="auto">${escapeHtml(row.branch)}</code></td>
<td class="pipelines"><ul>${chips}</ul>${commit}${failedList}</td>
<td class="when">${when === null ? "–" : `<time datetime="${escapeHtml(when)}" title="${escapeHtml(when)}">${escapeHtml(formatAgo(when, now))}</time>`}</td>
<td class="duration">${escapeHtml(formatDuration(latest?.durationMs ?? null))}</td>
<td class="trend-cell">${renderTrend(row.trend.pipeline, row.trend.runs)}</td>
</tr>`;
}
