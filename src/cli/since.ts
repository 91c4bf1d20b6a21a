const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since` as an ISO 8601 time ("2024-05-01T10:00:00Z") or a duration back from `nowMs`
 * ("90s", "30m", "2h", "7d"). Returns epoch milliseconds; throws on anything else or a future time.
 */
export function parseSince(text: string, nowMs: number): number {
  const trimmed = text.trim();
  const duration = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(trimmed);
  // no stream holds events from before 1970; a Date far enough before that is not a time at all
  if (duration)
    return Math.max(0, nowMs - Math.round(Number(duration[1]) * (UNITS[duration[2] ?? "s"] ?? 1000)));
  // a bare date or a time with a zone only: "2024-05-01T10:00" would silently mean local time
  const iso = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.exec(trimmed);
  const ms = iso ? Date.parse(trimmed) : Number.NaN;
  // Date.parse rolls a day the month lacks over into the next month (02-30 is March 1st)
  const [, year, month, day] = iso ?? [];
  if (!Number.isNaN(ms) && Number(day) > new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate())
    throw new Error(`--since ${year}-${month}-${day} is not a date: that month has no day ${day}`);
  if (Number.isNaN(ms)) {
    throw new Error(
      `--since "${text}" is neither a duration (90s, 30m, 2h, 7d) nor an ISO time with a zone (2024-05-01T10:00:00Z)`,
    );
  }
  if (ms > nowMs) throw new Error(`--since ${new Date(ms).toISOString()} is in the future`);
  return ms;
}
