import type { Person } from "../config/schema.ts";
import type { BuildEventData } from "../events/schema.ts";

type Author = NonNullable<BuildEventData["commit"]["author"]>;

/** The configured person behind a commit author: by e-mail, else by provider username. */
export function findPerson(
  people: readonly Person[],
  author: Author | null,
  provider: BuildEventData["provider"],
): Person | null {
  if (author === null) return null;
  const email = author.email?.toLowerCase() ?? null;
  const username = author.username?.toLowerCase() ?? null;
  return (
    people.find((person) => email !== null && person.email?.toLowerCase() === email) ??
    people.find((person) => username !== null && person[provider]?.toLowerCase() === username) ??
    null
  );
}

/** A name to print: the provider's display name, else the username, else the people map's. */
export function displayName(author: Author | null, person: Person | null): string | null {
  return author?.name ?? author?.username ?? person?.name ?? null;
}

/** Where author e-mails go: the people map first (providers may redact or omit it). */
export function authorEmail(author: Author | null, person: Person | null): string | null {
  return person?.email ?? author?.email ?? null;
}
