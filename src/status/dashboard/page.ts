import type { State } from "../model.ts";
import { STATES } from "../model.ts";
import type { BranchRow } from "../queries.ts";
import { escapeHtml } from "../html.ts";
import { renderRow } from "./row.ts";
import { DASHBOARD_CSS } from "./style.ts";

export interface PageInput {
  readonly rows: readonly BranchRow[];
  readonly now: number;
  /** KV revision the rows reflect; the live feed resumes after it */
  readonly revision: number;
  /** where the router is mounted, so links work under a prefix too */
  readonly base: string;
  /** a token guards the dashboard: the page offers to sign out */
  readonly signOut?: boolean;
}

/** Rows per state, as buttons: the page's script shows only that state's rows on a click. */
export function renderCounts(rows: readonly Pick<BranchRow, "state">[]): string {
  const counts = new Map<State, number>();
  for (const row of rows) counts.set(row.state, (counts.get(row.state) ?? 0) + 1);
  return STATES.filter((s) => counts.has(s))
    .map(
      (s) =>
        `<li class="s-${s}"><button type="button" data-state="${s}" aria-pressed="false" title="show only ${s} branches">${counts.get(s) ?? 0} ${s}</button></li>`,
    )
    .join("");
}

const TITLE = "buildcast · build status";

/** The tab says how many branches are failing, so a background tab still tells. */
export function pageTitle(rows: readonly BranchRow[]): string {
  const failing = rows.filter((row) => row.state === "failing").length;
  return failing > 0 ? `(${failing} failing) ${TITLE}` : TITLE;
}

/** The whole dashboard, server-rendered; the script only swaps rows the live feed sends. */
export function renderPage(input: PageInput): string {
  const base = input.base.endsWith("/") ? input.base : `${input.base}/`;
  const body = input.rows.map((row) => renderRow(row, input.now)).join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(pageTitle(input.rows))}</title>
<link rel="icon" href="${escapeHtml(base)}favicon.svg" type="image/svg+xml">
<style>${DASHBOARD_CSS}</style>
<script src="${escapeHtml(base)}dashboard.js" defer></script>
</head>
<body data-revision="${input.revision}" data-events="${escapeHtml(base)}api/v1/events">
<header>
<h1>buildcast <span>build status</span></h1>
<ul class="counts" id="counts" aria-label="branches by state">${renderCounts(input.rows)}</ul>
<input type="search" id="filter" class="filter" placeholder="Filter repository or branch  ( / )" aria-label="filter by repository or branch" autocomplete="off" spellcheck="false">
<div class="live" id="live" role="status">connecting…</div>
<div class="sr" id="announce" role="status"></div>
${input.signOut === true ? `<form method="post" action="${escapeHtml(base)}signout" class="signout"><button type="submit">Sign out</button></form>\n` : ""}</header>
<main>
<table>
<thead><tr><th>State</th><th>Repository</th><th>Branch</th><th>Pipelines · latest commit</th><th>Last run</th><th>Duration</th><th>Trend</th></tr></thead>
<tbody id="rows">
${body}
</tbody>
</table>
<div class="empty" id="empty"${input.rows.length ? " hidden" : ""}>
<p><strong>No builds yet.</strong> Point a webhook at buildcast and builds appear here as they run.</p>
<p>GitHub, <em>Settings → Webhooks</em>: payload URL <code data-path="/webhooks/github">/webhooks/github</code>, content type <code>application/json</code>, the secret in <code>GITHUB_WEBHOOK_SECRET</code>, events Workflow runs, Workflow jobs, Check suites, Check runs, Statuses and Deployment statuses.</p>
<p>GitLab, <em>Settings → Webhooks</em>: URL <code data-path="/webhooks/gitlab">/webhooks/gitlab</code>, secret token the value of <code>GITLAB_WEBHOOK_TOKEN</code>, Pipeline, Job and Deployment events.</p>
</div>
<p class="empty" id="nomatch" hidden>No branch matches the filter. <button type="button" class="clear">Show all</button></p>
</main>
</body>
</html>
`;
}

/**
 * The sign-in form. It posts the token (a GET would put it in the address bar, the history
 * and any proxy's access log) to `action`, the page's own address with its filters.
 */
export function renderLoginPage(action: string, notice: string | null, base: string): string {
  const icon = `${base.endsWith("/") ? base : `${base}/`}favicon.svg`;
  // the form comes back with focus in the field, so a screen reader says its label: the notice
  // is its description, or that reader is never told why the form came back
  // its own icon too: without one the browser asks for /favicon.ico, a 404 in the console
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>buildcast · sign in</title>
<link rel="icon" href="${escapeHtml(icon)}" type="image/svg+xml">
<style>${DASHBOARD_CSS} form{max-width:22rem;margin:4rem auto;display:grid;gap:.6rem;padding:0 1rem}input,button{font:inherit;padding:.5rem;border-radius:6px;border:1px solid var(--line)}input{border-color:var(--field);background:var(--card);color:var(--fg)}</style></head>
<body><form method="post" action="${escapeHtml(action)}">
<h1>buildcast</h1><label for="token">This dashboard needs the API token.</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus${notice === null ? "" : ' aria-describedby="notice"'}>
${notice === null ? "" : `<p class="failed" id="notice">${escapeHtml(notice)}</p>`}<button type="submit">Open dashboard</button></form></body></html>
`;
}
