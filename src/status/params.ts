import { PROVIDERS, type Provider } from "../events/schema.ts";

export class BadParameterError extends Error {
  readonly parameter: string;
  constructor(parameter: string, message: string) {
    super(message);
    this.name = "BadParameterError";
    this.parameter = parameter;
  }
}

type Query = Readonly<Record<string, unknown>>;

const MAX_NAME_LENGTH = 1024;

function single(query: Query, name: string): string | null {
  const value = query[name];
  if (value === undefined) return null;
  if (typeof value !== "string")
    throw new BadParameterError(name, `${name} must be given once, as a plain value`);
  return value;
}

/** Refuses a value over `max` characters or with a control character, naming the limit. */
function bounded(value: string, name: string, max: number, range: string): string {
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (value.length > max || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new BadParameterError(name, `${name} must be ${range} characters without control characters`);
  }
  return value;
}

/**
 * A path parameter naming one thing (a run id): bounded like names, so it cannot grow a NATS
 * subject past the server's control line (4 KB), which closes the connection.
 */
export function idParam(value: string, name: string): string {
  const range = `1 to ${MAX_ID_LENGTH}`;
  if (value.length === 0) throw new BadParameterError(name, `${name} must be ${range} characters`);
  return bounded(value, name, MAX_ID_LENGTH, range);
}

const MAX_ID_LENGTH = 512;

/** A name as the provider spells it: repository path, branch or pipeline. Any characters but control ones. */
export function nameParam(query: Query, name: string, required: true): string;
export function nameParam(query: Query, name: string, required: false): string | null;
export function nameParam(query: Query, name: string, required: boolean): string | null {
  const value = single(query, name);
  if (value === null || value === "") {
    if (required) throw new BadParameterError(name, `${name} is required`);
    return null;
  }
  return bounded(value, name, MAX_NAME_LENGTH, `at most ${MAX_NAME_LENGTH}`);
}

export function providerParam(query: Query, name = "provider"): Provider | null {
  const value = single(query, name);
  if (value === null || value === "") return null;
  return providerValue(value, name);
}

export function providerValue(value: string, name = "provider"): Provider {
  const provider = PROVIDERS.find((p) => p === value);
  if (!provider) throw new BadParameterError(name, `${name} must be one of ${PROVIDERS.join(", ")}`);
  return provider;
}

export function limitParam(query: Query, fallback: number, max: number): number {
  const value = single(query, "limit");
  if (value === null || value === "") return fallback;
  const limit = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new BadParameterError("limit", `limit must be an integer from 1 to ${max}`);
  }
  return limit;
}

/**
 * Refuses a query whose names or values are not percent-encoded UTF-8 (`caf%E9`, Latin-1 from
 * a legacy script's encoder): express's parser turns such bytes into U+FFFD, and the request
 * would quietly look for a name nobody has, a 404 that hides the cause. A `%` that starts no
 * escape (`50%-off`) is taken as itself, as the parser does.
 */
export function checkQueryEncoding(url: string): void {
  const start = url.indexOf("?");
  if (start < 0) return;
  for (const pair of url.slice(start + 1).split("&")) {
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    for (const part of eq < 0 ? [pair] : [name, pair.slice(eq + 1)]) {
      try {
        decodeURIComponent(part.replace(LONE_PERCENT, "%25"));
      } catch {
        const parameter = decodedName(name);
        throw new BadParameterError(parameter, `${parameter} is not percent-encoded UTF-8`);
      }
    }
  }
}

const LONE_PERCENT = /%(?![\da-f]{2})/gi;

const decodedName = (name: string): string => {
  try {
    return decodeURIComponent(name.replaceAll("+", " ").replace(LONE_PERCENT, "%25"));
  } catch {
    return "query";
  }
};

/**
 * Refuses a parameter the endpoint does not take: a typo (`brnch=main`, `pipline=CI`) would
 * otherwise be ignored and answered with every branch's or pipeline's runs, which a script
 * cannot tell from the answer it asked for. `token` is taken everywhere (Authentication).
 */
export function onlyParams(query: Query, takes: readonly string[]): void {
  for (const name of Object.keys(query)) {
    if (name === "token" || takes.includes(name)) continue;
    const known = takes.length === 0 ? "no parameters" : takes.join(", ");
    throw new BadParameterError(name, `unknown parameter ${name}: this endpoint takes ${known}`);
  }
}
