import type { RunSummary, State } from "../model.ts";
import { escapeHtml } from "../html.ts";
import { formatDuration } from "./format.ts";

const WIDTH = 120;
const HEIGHT = 28;
const SLOTS = 20;

/**
 * Durations of one pipeline's recent runs as bars, oldest left, coloured by state; a run
 * still going or without a duration is a short stub so the sequence stays readable.
 */
export function renderTrend(pipeline: string, runs: readonly RunSummary[]): string {
  const shown = runs.slice(0, SLOTS).reverse();
  const max = Math.max(1, ...shown.map((r) => r.durationMs ?? 0));
  const slot = WIDTH / SLOTS;
  const bars = shown
    .map((run, i) => {
      const h = run.durationMs === null ? 3 : Math.max(3, Math.round((run.durationMs / max) * (HEIGHT - 2)));
      const x = (i + SLOTS - shown.length) * slot + 1;
      const label =
        `${pipeline} #${run.number ?? run.runId} ${run.state} ${formatDuration(run.durationMs)}`.trim();
      return `<rect class="bar s-${run.state}" x="${x.toFixed(1)}" y="${HEIGHT - h}" width="${(slot - 2).toFixed(1)}" height="${h}" rx="1"><title>${escapeHtml(label)}</title></rect>`;
    })
    .join("");
  return `<svg class="trend" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(trendLabel(pipeline, shown))}"><title>${escapeHtml(pipeline || "pipeline")}</title>${bars}</svg>`;
}

/** the order of the dashboard's rows: what needs a look first */
const SAID_FIRST: readonly State[] = ["failing", "running", "canceled", "unknown", "passing"];

/**
 * The chart's name for a screen reader, which reads neither the bars' colours nor their hover
 * titles (an image's parts are not read): how the runs ended, the newest and the longest.
 */
function trendLabel(pipeline: string, shown: readonly RunSummary[]): string {
  const head = `duration of the last ${shown.length} runs of ${pipeline || "the pipeline"}`;
  const newest = shown[shown.length - 1];
  if (newest === undefined) return head;
  const ended = SAID_FIRST.map((state) => [state, shown.filter((run) => run.state === state).length] as const)
    .filter(([, count]) => count > 0)
    .map(([state, count]) => `${count} ${state}`)
    .join(", ");
  const longest = Math.max(...shown.map((run) => run.durationMs ?? -1));
  const newestSaid = newest.durationMs === null ? newest.state : formatDuration(newest.durationMs);
  return `${head}: ${ended}; newest ${newestSaid}${longest >= 0 ? `, longest ${formatDuration(longest)}` : ""}`;
}
