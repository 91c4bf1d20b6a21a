import type { BuildEvent, Provider } from "../events/schema.ts";

/** What a verified webhook turned into, before anything is published. */
export type Received =
  | {
      readonly outcome: "events";
      readonly provider: Provider;
      readonly event: string;
      readonly deliveryId: string | null;
      readonly events: readonly BuildEvent[];
    }
  | { readonly outcome: "ping"; readonly provider: Provider; readonly event: string }
  | {
      readonly outcome: "ignored";
      readonly provider: Provider;
      readonly event: string;
      /** why an event of a handled kind is dropped; null for kinds that carry no build status */
      readonly reason: string | null;
    };

/** Request headers by lower-case name; the core never sees express. */
export interface WebhookRequest {
  header(name: string): string | undefined;
  readonly rawBody: Uint8Array;
}

/**
 * What a receiver checks from the headers alone, before a byte of the body is read: content
 * type, that a secret is configured, the token or the signature's presence and form, the event
 * header. Throws the HttpError to answer, so a stranger cannot make the gateway buffer a body.
 */
export type HeaderCheck = (header: WebhookRequest["header"]) => void;
