/** Shortens raw provider text before it is escaped, so an escape is never cut in half. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/** The first line only: provider text may carry newlines into one-line places. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
  return text.split(/\r?\n|\r/, 1)[0]?.replace(/[\u0000-\u001f\u007f]/g, " ") ?? "";
}
