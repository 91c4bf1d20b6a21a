/** Badges and answers change with every build: caches must ask again, and may only briefly reuse. */
export const FRESH = "no-cache, max-age=0, must-revalidate";

/**
 * The same, for answers that took the API token: must-revalidate alone lets a shared cache
 * (a corporate proxy, a CDN in front of the gateway) store an answer to a request with
 * Authorization (RFC 9111, 3.5), and one authorized by `?token=` or the cookie is stored by
 * any; private keeps them in the reader's own browser.
 */
export const PRIVATE_FRESH = `private, ${FRESH}`;

/** A refusal (401, 429): never kept, so the next try, with the right token, is asked afresh. */
export const REFUSED = "no-store";
