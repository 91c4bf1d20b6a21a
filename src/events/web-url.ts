/**
 * Only web links are handed on: a commit status's target_url, a deployment's environment
 * URL and the like are whatever their creator typed (`javascript:…`, `data:…`), and the
 * events, the status API and every page built on them show these as links.
 */
export const webUrl = (url: string | null): string | null =>
  url !== null && /^https?:\/\//i.test(url) && URL.canParse(url) ? url : null;

/**
 * A link as a renderer writes it (an href, a Slack or e-mail link): only http(s), in the
 * normalized form `URL` gives it; anything else (javascript:, data:, mailto:, junk) is dropped.
 */
export function safeUrl(value: string | null | undefined): string | null {
  if (!value) return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
