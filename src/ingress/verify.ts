import { createHash, createHmac, timingSafeEqual } from "node:crypto";

const SIGNATURE = /^sha256=[0-9a-f]{64}$/;

/** Whether an X-Hub-Signature-256 value has the form GitHub sends. */
export const isGithubSignature = (signature: string): boolean => SIGNATURE.test(signature);

/**
 * X-Hub-Signature-256 (HMAC-SHA256 of the raw body, hex) checked against every configured
 * secret (more than one while a secret is being rotated). All secrets are tried so the time
 * taken does not tell which one matched. Synchronous and over the bytes as received:
 * @octokit/webhooks-methods' verify takes the body as text (re-encoding 20 KB per webhook)
 * and is async, which kept each body's text alive across a turn of the event loop.
 */
export function verifyGithubSignature(
  secrets: readonly string[],
  rawBody: Uint8Array,
  signature: string,
): boolean {
  if (!SIGNATURE.test(signature) || rawBody.length === 0) return false;
  const presented = Buffer.from(signature.slice("sha256=".length), "hex");
  let matched = false;
  for (const secret of secrets) {
    if (timingSafeEqual(createHmac("sha256", secret).update(rawBody).digest(), presented)) matched = true;
  }
  return matched;
}

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/**
 * X-Gitlab-Token is a shared secret sent as is; compared in constant time (hashing first
 * makes the lengths equal, so neither length nor content leaks through timing).
 */
export function verifyGitlabToken(tokens: readonly string[], token: string): boolean {
  const presented = digest(token);
  let matched = false;
  for (const expected of tokens) {
    if (timingSafeEqual(presented, digest(expected))) matched = true;
  }
  return matched;
}
