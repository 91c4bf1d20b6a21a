import type { Person } from "../config/schema.ts";
import type { BuildEventData } from "../events/schema.ts";

type Author = NonNullable<BuildEventData["commit"]["author"]>;

/**
 * The login inside a provider's noreply address, which is all that GitHub (for users who
 * keep their e-mail private) and GitLab.com put in commits: GitHub `[id+]login@users.noreply.
 * <host>`, GitLab `id-username@users.noreply.<host>`.
 */
export function noreplyLogin(email: string | null, provider: BuildEventData["provider"]): string | null {
  if (email === null) return null;
  const match =
    provider === "github"
      ? /^(?:\d+\+)?([a-z\d](?:[a-z\d-]*[a-z\d])?)@users\.noreply\./i.exec(email)
      : /^\d+-([\w.-]+)@users\.noreply\./i.exec(email);
  return match?.[1] ?? null;
}

/**
 * The author's provider username: the event's; else the login in a noreply address; else,
 * when the commit author has the name of the user who triggered the run, that user's (GitLab
 * redacts commit e-mails and names no author username, but pushes of one's own commits say
 * who pushed).
 */
export function authorUsername(data: Pick<BuildEventData, "commit" | "actor" | "provider">): string | null {
  const author = data.commit.author;
  if (author === null) return null;
  if (author.username !== null) return author.username;
  const login = noreplyLogin(author.email, data.provider);
  if (login !== null) return login;
  const actor = data.actor;
  return actor !== null && actor.username !== null && author.name !== null && actor.name === author.name
    ? actor.username
    : null;
}

/** The configured person behind a commit author: by e-mail, else by provider username. */
export function findPerson(
  people: readonly Person[],
  data: Pick<BuildEventData, "commit" | "actor" | "provider">,
): Person | null {
  const author = data.commit.author;
  if (author === null) return null;
  const email = author.email?.toLowerCase() ?? null;
  const username = authorUsername(data)?.toLowerCase() ?? null;
  return (
    people.find((person) => email !== null && person.email?.toLowerCase() === email) ??
    people.find((person) => username !== null && person[data.provider]?.toLowerCase() === username) ??
    null
  );
}

/** A name to print: the provider's display name, else the username, else the people map's. */
export function displayName(author: Author | null, person: Person | null): string | null {
  return author?.name ?? author?.username ?? person?.name ?? null;
}

/**
 * Where author e-mails go: the people map first (providers may redact or omit it), else the
 * commit's own address when it is one plain address that can receive mail. A commit's e-mail
 * is whatever its author typed: `a@x, b@y` must not become two recipients, and noreply
 * addresses (GitHub's, GitLab's, on any host) bounce.
 */
export function authorEmail(author: Author | null, person: Person | null): string | null {
  if (person?.email) return person.email;
  const email = author?.email ?? null;
  if (email === null || !PLAIN_ADDRESS.test(email) || /@users\.noreply\./i.test(email)) return null;
  return email;
}

/**
 * local@domain, without display names, lists, quotes, comments, spaces, control characters
 * (C0 and C1) or invisible ones (zero-width, bidi overrides: an address must read as it
 * routes); the domain is labels separated by single dots, and may have no dot at all
 * (`dev@corp`, an internal mail host).
 */
const NOT_IN_ADDRESS = String.raw`\s\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff@<>()[\]\\,;:"`;
const PLAIN_ADDRESS = new RegExp(
  `^[^${NOT_IN_ADDRESS}]+@[^${NOT_IN_ADDRESS}.]+(?:\\.[^${NOT_IN_ADDRESS}.]+)*$`,
);
