import type { Route, Transition } from "../config/schema.ts";
import type { BuildEventData } from "../events/schema.ts";
import { deployedRefType, entityName } from "./entity.ts";
import { matchesAnyGlob } from "./glob.ts";

/**
 * `branches` and `tags` filter their own kind of ref, as `on.push` does in GitHub Actions: a
 * route that names only branches never matches a tag build (and the other way round), one
 * that names neither matches both. A ref of unknown kind (a pull request's merge ref) is
 * held against `branches`.
 */
function refMatches(match: Route["match"], data: BuildEventData): boolean {
  if (match.branches === undefined && match.tags === undefined) return true;
  // a deployment's ref does not say what it is: a release `v1.2` deployed is a tag's
  const type = data.kind === "deployment" ? deployedRefType(data.ref) : data.ref.type;
  const globs = type === "tag" ? match.tags : match.branches;
  return globs !== undefined && matchesAnyGlob(data.ref.name, globs);
}

/** Whether an event's entity falls under a route's match block (transition aside). */
export function routeMatches(route: Route, data: BuildEventData): boolean {
  const match = route.match;
  if (!match.kinds.includes(data.kind)) return false;
  if (match.providers && !match.providers.includes(data.provider)) return false;
  if (!matchesAnyGlob(data.repository.fullName, match.repositories)) return false;
  if (!refMatches(match, data)) return false;
  // job routes may name either the pipeline or "pipeline / job"
  const names = data.kind === "pipeline" ? [data.run.name] : [data.run.name, entityName(data)];
  return match.pipelines === undefined || names.some((name) => matchesAnyGlob(name, match.pipelines));
}

/** The routes that want this transition of this event, in config order. */
export function matchRoutes(routes: readonly Route[], data: BuildEventData, transition: Transition): Route[] {
  return routes.filter((route) => route.on.includes(transition) && routeMatches(route, data));
}

/** Kinds whose lanes a channel must track: those its routes can match. */
export function trackedKinds(routes: readonly Route[], channel: "slack" | "email"): Set<string> {
  return new Set(
    routes.filter((route) => route[channel] !== undefined).flatMap((route) => route.match.kinds),
  );
}
