/** Shortens raw provider text before it is escaped, so an escape is never cut in half. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/**
 * The characters that reorder the text around them: embeddings and overrides (U+202A–U+202E)
 * and isolates (U+2066–U+2069). A branch named `main` + U+202E + `tset-pu` reads "main up-test"
 * backwards, and an override left open reverses the rest of the line too: "Trojan Source"
 * (https://trojansource.codes), here spoofing which branch failed. The marks (LRM, RLM, ALM)
 * are kept: Hebrew and Arabic commit titles use them, and they cannot reverse a run of letters.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/**
 * Provider text as Slack and e-mail show it: each bidirectional control becomes U+FFFD, a
 * mark every font draws. Wrapping names in isolates (FSI…PDI) instead would need every client
 * to implement them (mail subjects, Outlook, phone notifications draw boxes or nothing) and
 * would still let a name's own PDI close the isolate early; a visible mark also tells the
 * reader the name holds something it does not show. Right-to-left letters are kept as they are.
 */
export function withoutBidiControls(text: string): string {
  return text.replace(BIDI_CONTROLS, "\ufffd");
}

/** The first line only: provider text may carry newlines (and bidi controls) into one-line places. */
export function oneLine(text: string): string {
  return withoutBidiControls(
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
    text.split(/\r?\n|\r/, 1)[0]?.replace(/[\u0000-\u001f\u007f]/g, " ") ?? "",
  );
}
