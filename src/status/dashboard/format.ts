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

/** "just now", "5 min ago", "3 h ago", "2 d ago"; the page's script keeps it current. */
export function formatAgo(iso: string | null, now: number): string {
  if (iso === null) return "–";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "–";
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}
