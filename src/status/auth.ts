import { createHash, timingSafeEqual } from "node:crypto";
import type { Request } from "express";

export const TOKEN_COOKIE = "buildcast_token";
const COOKIE_MAX_AGE_S = 30 * 86_400;

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/**
 * The cookie holds a digest of the token rather than the token: the browser never stores the
 * credential operators paste into their config, and rotating the token ends every session.
 */
export const cookieValueFor = (token: string): string =>
  createHash("sha256").update(`buildcast-dashboard:${token}`, "utf8").digest("base64url");

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
 * Who may read: everyone when no token is configured; otherwise a request that carries the
 * token as `Authorization: Bearer`, as `?token=` (README badges cannot send headers), or
 * the dashboard cookie (browsers cannot add headers to page loads or EventSource).
 */
export function isAuthorized(req: Request, token: string | null): boolean {
  if (token === null) return true;
  const bearer = bearerToken(req.headers.authorization);
  if (bearer !== null && same(bearer, token)) return true;
  const query = queryToken(req);
  if (query !== null && same(query, token)) return true;
  const cookie = readCookie(req.headers.cookie, TOKEN_COOKIE);
  return cookie !== null && same(cookie, cookieValueFor(token));
}

export function sessionCookie(token: string, path: string, secure: boolean): string {
  const attributes = [
    `${TOKEN_COOKIE}=${cookieValueFor(token)}`,
    `Path=${path}`,
    `Max-Age=${COOKIE_MAX_AGE_S}`,
    "HttpOnly",
    // Lax, not Strict: a link to the dashboard from chat must arrive signed in; every route is read-only
    "SameSite=Lax",
  ];
  if (secure) attributes.push("Secure");
  return attributes.join("; ");
}
