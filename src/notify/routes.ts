import type { Route, Transition } from "../config/schema.ts";
import type { BuildEventData } from "../events/schema.ts";
import { entityName } from "./entity.ts";
import { matchesAnyGlob } from "./glob.ts";

/** Whether an event's entity falls under a route's match block (transition aside). */
export function routeMatches(route: Route, data: BuildEventData): boolean {
  const match = route.match;
  if (!match.kinds.includes(data.kind)) return false;
  if (match.providers && !match.providers.includes(data.provider)) return false;
  if (!matchesAnyGlob(data.repository.fullName, match.repositories)) return false;
  if (!matchesAnyGlob(data.ref.name, match.branches)) return false;
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
