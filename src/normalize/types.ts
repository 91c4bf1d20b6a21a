import type { BuildEvent } from "../events/schema.ts";

/** A pure normalizer: event name (from the provider's header) + parsed body → build events. */
export interface NormalizeInput {
  /** X-GitHub-Event or X-Gitlab-Event value */
  readonly event: string;
  /** X-GitHub-Delivery, or GitLab's X-Gitlab-Event-UUID / Idempotency-Key; null when absent */
  readonly deliveryId: string | null;
  readonly payload: unknown;
}

export type NormalizeResult =
  | { readonly handled: true; readonly events: readonly BuildEvent[] }
  | {
      readonly handled: false;
      /** why this event of a handled kind is dropped; null for kinds that carry no build status */
      readonly reason: string | null;
    };
