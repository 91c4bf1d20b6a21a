import type { RunSummary } from "../model.ts";
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
  return `<svg class="trend" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(`duration of the last ${shown.length} runs of ${pipeline || "the pipeline"}`)}"><title>${escapeHtml(pipeline || "pipeline")}</title>${bars}</svg>`;
}
