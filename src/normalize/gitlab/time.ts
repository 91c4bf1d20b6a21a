/**
 * GitLab sends three timestamp styles, sometimes in one payload:
 *   "2016-08-12 15:23:28 UTC"      (pipeline and job hooks, most versions)
 *   "2021-04-28 21:50:00 +0200"    (deployment hooks' status_changed_at)
 *   "2021-02-23T02:41:37.886Z"     (ISO 8601, with or without ms, Z or ±hh:mm)
 * The grammar is spelled out here rather than left to Date.parse, whose acceptance of
 * non-ISO strings is implementation-defined.
 */
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s?(Z|UTC|[+-]\d{2}:?\d{2})$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2 && !isLeapYear(year)) return 28;
  return DAYS_IN_MONTH[month - 1] ?? 0;
}

/** Offset east of UTC in minutes, or null when out of range. */
function offsetMinutes(zone: string): number | null {
  if (zone === "Z" || zone === "UTC") return 0;
  const sign = zone.startsWith("-") ? -1 : 1;
  const digits = zone.slice(1).replace(":", "");
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2, 4));
  if (hours > 23 || minutes > 59) return null;
  return sign * (hours * 60 + minutes);
}

/** Parses a GitLab timestamp into an ISO 8601 UTC string; null when absent or unparsable. */
export function parseGitlabTime(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const match = TIMESTAMP.exec(value.trim());
  if (!match) return null;
  const [, y, mo, d, h, mi, s, fraction = "", zone = ""] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const offset = offsetMinutes(zone);
  if (offset === null) return null;
  const millis = Number(fraction.padEnd(3, "0").slice(0, 3));

  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offset, second, millis);
  const iso = date.toISOString();
  // An offset can push year 0000 or 9999 out of the four-digit range the event schema accepts.
  return /^\d{4}-/.test(iso) ? iso : null;
}

/** The latest of the given ISO UTC strings (they sort lexically), or null when there are none. */
export function latestTime(times: readonly (string | null)[]): string | null {
  let latest: string | null = null;
  for (const time of times) {
    if (time !== null && (latest === null || time > latest)) latest = time;
  }
  return latest;
}

/** The earliest of the given ISO UTC strings, or null when there are none. */
export function earliestTime(times: readonly (string | null)[]): string | null {
  let earliest: string | null = null;
  for (const time of times) {
    if (time !== null && (earliest === null || time < earliest)) earliest = time;
  }
  return earliest;
}
