import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { Request } from "express";

export const TOKEN_COOKIE = "buildcast_token";
const COOKIE_MAX_AGE_S = 30 * 86_400;

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

const sessionMac = (token: string, issuedAt: number): Buffer =>
  createHmac("sha256", token).update(`buildcast-dashboard:${issuedAt}`, "utf8").digest();

/**
 * The cookie holds when it was issued and an HMAC of that time keyed by the token, rather than
 * the token: the browser never stores the credential operators paste into their config,
 * rotating the token ends every session, and a cookie copied out of a browser stops working
 * 30 days after it was issued (Max-Age only asks the browser to forget it; a value derived
 * from the token alone would have worked for as long as the token).
 */
export function cookieValueFor(token: string, nowMs: number): string {
  const issuedAt = Math.floor(nowMs / 1000);
  return `${issuedAt}.${sessionMac(token, issuedAt).toString("base64url")}`;
}

const SESSION_VALUE = /^(\d{1,12})\.([\w-]{43})$/;
/** Clocks of replicas behind one load balancer may differ a little. */
const CLOCK_SKEW_S = 60;

/** Whether a cookie value is a session this token issued within the last 30 days. */
export function isSession(value: string, token: string, nowMs: number): boolean {
  const match = SESSION_VALUE.exec(value);
  if (match === null) return false;
  const issuedAt = Number(match[1]);
  const genuine = timingSafeEqual(Buffer.from(match[2] ?? "", "base64url"), sessionMac(token, issuedAt));
  const age = nowMs / 1000 - issuedAt;
  return genuine && age >= -CLOCK_SKEW_S && age <= COOKIE_MAX_AGE_S;
}

/** Equal-length digests compared in constant time, so response timing reveals nothing. */
export const same = (candidate: string, expected: string): boolean =>
  timingSafeEqual(digest(candidate), digest(expected));

export function readCookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1] ?? null;
}

export const queryToken = (req: Request): string | null => {
  const value = (req.query as Record<string, unknown>).token;
  return typeof value === "string" && value !== "" ? value : null;
};

/**
 * The credentials a request offers, right or wrong, as one string (null: none); only requests
 * that offer one count as attempts. A cookie counts only in the session form, since only that
 * can be a guess: one from before this form (every browser that signed in before an upgrade
 * sends one) is no attempt.
 */
export function offeredCredentials(req: Request): string | null {
  const bearer = bearerToken(req.headers.authorization);
  const query = queryToken(req);
  const cookie = readCookie(req.headers.cookie, TOKEN_COOKIE);
  const session = cookie !== null && SESSION_VALUE.test(cookie) ? cookie : null;
  if (bearer === null && query === null && session === null) return null;
  return [bearer ?? "", query ?? "", session ?? ""].join("\n");
}

/**
 * Who may read: everyone when no token is configured; otherwise a request that carries the
 * token as `Authorization: Bearer`, as `?token=` (README badges cannot send headers), or
 * the dashboard cookie (browsers cannot add headers to page loads or EventSource).
 */
export function isAuthorized(req: Request, token: string | null, nowMs: number): boolean {
  if (token === null) return true;
  const bearer = bearerToken(req.headers.authorization);
  if (bearer !== null && same(bearer, token)) return true;
  const query = queryToken(req);
  if (query !== null && same(query, token)) return true;
  const cookie = readCookie(req.headers.cookie, TOKEN_COOKIE);
  return cookie !== null && isSession(cookie, token, nowMs);
}

/** The cookie gone: the same name and path, expired, so the browser drops it at once. */
export function endedSessionCookie(path: string, secure: boolean): string {
  return [
    `${TOKEN_COOKIE}=`,
    `Path=${path}`,
    "Max-Age=0",
    "HttpOnly",
    "SameSite=Lax",
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}

export function sessionCookie(token: string, path: string, secure: boolean, nowMs: number): string {
  const attributes = [
    `${TOKEN_COOKIE}=${cookieValueFor(token, nowMs)}`,
    `Path=${path}`,
    `Max-Age=${COOKIE_MAX_AGE_S}`,
    "HttpOnly",
    // Lax, not Strict: a link to the dashboard from chat must arrive signed in; every route is read-only
    "SameSite=Lax",
  ];
  if (secure) attributes.push("Secure");
  return attributes.join("; ");
}
