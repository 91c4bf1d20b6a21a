import { escapeHtml, safeUrl } from "../html.ts";
import { rowSortKey, type BranchRow } from "../queries.ts";
import { formatAgo, formatDuration } from "./format.ts";
import { renderTrend } from "./trend.ts";

const link = (href: string | null, text: string, cls = ""): string => {
  const url = safeUrl(href);
  const c = cls ? ` class="${cls}"` : "";
  return url
    ? `<a${c} href="${escapeHtml(url)}" rel="noopener noreferrer">${escapeHtml(text)}</a>`
    : `<span${c}>${escapeHtml(text)}</span>`;
};

/** One table row; also sent whole over the live feed, so the page and the feed never disagree. */
export function renderRow(row: BranchRow, now: number): string {
  const latest = row.runs[0];
  const when = latest
    ? (latest.finishedAt ?? latest.startedAt ?? latest.createdAt ?? latest.updatedAt)
    : null;
  const chips = row.pipelines
    .map((p) => `<li>${link(p.run.url, p.pipeline || "pipeline", `chip s-${p.state}`)}</li>`)
    .join("");
  const commit = latest
    ? `<div class="commit">${link(latest.commit.url, latest.commit.title ?? latest.commit.sha.slice(0, 8))}${
        latest.commit.author?.name || latest.commit.author?.username
          ? ` <span class="author">· ${escapeHtml(latest.commit.author.name ?? latest.commit.author.username)}</span>`
          : ""
      }</div>`
    : "";
  const failed = row.pipelines.flatMap((p) => p.run.failedJobs);
  const failedList = failed.length
    ? `<div class="failed">failed: ${failed
        .slice(0, 4)
        .map((j) => link(j.url, j.name))
        .join(", ")}${failed.length > 4 ? ` +${failed.length - 4}` : ""}</div>`
    : "";
  return `<tr id="${row.id}" class="row s-${row.state}" data-state="${row.state}" data-sort="${escapeHtml(rowSortKey(row))}">
<td class="state"><span class="pill s-${row.state}">${row.state}</span></td>
<td class="repo">${link(row.repositoryUrl, row.repository)}<span class="provider">${row.provider}</span></td>
<td class="branch"><code>${escapeHtml(row.branch)}</code></td>
<td class="pipelines"><ul>${chips}</ul>${commit}${failedList}</td>
<td class="when"><time datetime="${escapeHtml(when ?? "")}">${escapeHtml(formatAgo(when, now))}</time></td>
<td class="duration">${escapeHtml(formatDuration(latest?.durationMs ?? null))}</td>
<td class="trend-cell">${renderTrend(row.runs)}</td>
</tr>`;
}
