/**
 * Only web links are handed on: a commit status's target_url, a deployment's environment
 * URL and the like are whatever their creator typed (`javascript:…`, `data:…`), and the
 * events, the status API and every page built on them show these as links.
 */
export const webUrl = (url: string | null): string | null =>
  url !== null && /^https?:\/\//i.test(url) && URL.canParse(url) ? url : null;
