/**
 * The first line of a commit message, as a string of its own. A substring of a long string
 * is, in V8, a view that keeps the whole string alive: a title cut from a 20 KB squash-merge
 * message would hold all 20 KB for as long as the event lives (through the JetStream ack,
 * in every in-flight webhook), and the young-generation GC would copy it each time it runs.
 * The JSON round trip copies the line exactly, lone surrogates included.
 */
export function firstLineOf(message: string): string {
  const line = capped(message.split(/\r?\n/, 1)[0] ?? "");
  return line.length === message.length ? message : (JSON.parse(JSON.stringify(line)) as string);
}

/**
 * Titles longer than this are cut, with an ellipsis. A title is a chat line and a mail
 * subject; a one-line message of a megabyte would make an event NATS cannot carry (its
 * max_payload is 1 MB by default) and that no reader wants whole.
 */
export const MAX_TITLE_LENGTH = 1000;

function capped(line: string): string {
  if (line.length <= MAX_TITLE_LENGTH) return line;
  // never split a surrogate pair
  const end = /[\uD800-\uDBFF]/.test(line[MAX_TITLE_LENGTH - 2] ?? "")
    ? MAX_TITLE_LENGTH - 2
    : MAX_TITLE_LENGTH - 1;
  return `${line.slice(0, end)}…`;
}
