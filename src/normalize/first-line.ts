/**
 * The first line of a commit message, as a string of its own. A substring of a long string
 * is, in V8, a view that keeps the whole string alive: a title cut from a 20 KB squash-merge
 * message would hold all 20 KB for as long as the event lives (through the JetStream ack,
 * in every in-flight webhook), and the young-generation GC would copy it each time it runs.
 * The JSON round trip copies the line exactly, lone surrogates included.
 */
export function firstLineOf(message: string): string {
  const line = message.split(/\r?\n/, 1)[0] ?? "";
  return line.length === message.length ? message : (JSON.parse(JSON.stringify(line)) as string);
}
