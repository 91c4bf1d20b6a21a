/** "1h 2m", "3m 04s", "12s": compact, fixed order, no rounding surprises. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, "0")}m`;
}

/**
 * A time worth showing: a payload without any time leaves the epoch behind, which is no
 * time at all ("20789 d ago").
 */
export function knownTime(iso: string | null | undefined): string | null {
  if (iso === null || iso === undefined) return null;
  const then = Date.parse(iso);
  return Number.isNaN(then) || then <= 0 ? null : iso;
}

/**
 * "just now", "5 min ago", "3 h ago", "6 d ago", then the date ("2026-03-14"), as GitHub
 * does: "412 d ago" says less than a date. The page's script keeps it current (same rules),
 * and gives the date in the reader's time zone: this one is UTC's.
 */
export function formatAgo(iso: string | null, now: number): string {
  const known = knownTime(iso);
  if (known === null) return "–";
  const then = Date.parse(known);
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  if (s < 7 * 86_400) return `${Math.round(s / 86_400)} d ago`;
  return new Date(then).toISOString().slice(0, 10);
}
