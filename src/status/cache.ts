/** Badges and answers change with every build: caches must ask again, and may only briefly reuse. */
export const FRESH = "no-cache, max-age=0, must-revalidate";
