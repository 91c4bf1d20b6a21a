/**
 * A small glob dialect for route matching: `*` and `?` stay inside one `/`-separated
 * segment, `**` crosses segments, everything else is literal. No dependency: node's
 * path.matchesGlob is still experimental on Node 20 and warns at runtime.
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const char = glob.charAt(i);
    if (char === "*" && glob.charAt(i + 1) === "*") {
      // "a/**/b" also matches "a/b": the segment and its slash are optional together
      if (glob.charAt(i + 2) === "/") {
        source += "(?:.*/)?";
        i += 2;
      } else {
        source += ".*";
        i += 1;
      }
    } else if (char === "*") {
      source += "[^/]*";
    } else if (char === "?") {
      source += "[^/]";
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

const cache = new Map<string, RegExp>();

export function matchesGlob(value: string, glob: string): boolean {
  let pattern = cache.get(glob);
  if (!pattern) {
    pattern = globToRegExp(glob);
    cache.set(glob, pattern);
  }
  return pattern.test(value);
}

/** An omitted list matches anything; a present one needs a match (a missing value never matches). */
export function matchesAnyGlob(value: string | null, globs: readonly string[] | undefined): boolean {
  if (globs === undefined) return true;
  if (value === null) return false;
  return globs.some((glob) => matchesGlob(value, glob));
}
