/**
 * The one error a normalizer throws: the payload is not the event it claims to be.
 * Ingress turns it into a 400 with this message; anything else a normalizer throws is a bug.
 */
export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PayloadError";
  }
}
