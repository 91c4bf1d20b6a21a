import { createHash, timingSafeEqual } from "node:crypto";
import { verify } from "@octokit/webhooks-methods";

/**
 * X-Hub-Signature-256 over the raw body, checked against every configured secret (more
 * than one while a secret is being rotated). All secrets are tried so the time taken does
 * not tell which one matched.
 */
export async function verifyGithubSignature(
  secrets: readonly string[],
  rawBody: string,
  signature: string,
): Promise<boolean> {
  if (!/^sha256=[0-9a-f]{64}$/.test(signature) || rawBody.length === 0) return false;
  const results = await Promise.all(secrets.map((secret) => verify(secret, rawBody, signature)));
  return results.includes(true);
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
