import { RequestOne } from "@nats-io/nats-core/internal";
import type { Msg } from "@nats-io/transport-node";

/**
 * nats.js 3.x settles every successful request twice: `RequestOne.resolver` resolves the
 * promise and then calls `cancel()`, which rejects it again with a new
 * `RequestError("cancelled")`. The promise is settled already, so nobody ever sees that
 * error, but V8 captures its stack all the same, on every JetStream publish and every KV
 * read and write: 3.5% of the gateway's instructions per webhook (callgrind, bench machine),
 * more in an all-in-one process whose consumers live on KV requests.
 *
 * This takes the success path without the second settle: the same steps in the same order
 * (stop the timer, resolve, leave the mux), nothing rejected. Failures still go through
 * nats.js's own resolver and cancel. test/unit/nats-request-fix.test.ts pins both the
 * upstream behaviour this works around and that the replacement does what the original
 * does; when nats.js stops building the error, that test says so and this file can go.
 */
// kept unbound on purpose: it is only ever called with .call(request, …)
// eslint-disable-next-line @typescript-eslint/unbound-method
export const upstreamResolver = RequestOne.prototype.resolver;

function resolveOnce(this: RequestOne, err: Error | null, msg: Msg): void {
  // anything unexpected (an error, a shape this was not written for) takes the original path
  if (
    err !== null ||
    typeof this.deferred?.resolve !== "function" ||
    typeof this.mux?.cancel !== "function"
  ) {
    upstreamResolver.call(this, err, msg);
    return;
  }
  this.timer?.cancel();
  this.deferred.resolve(msg);
  this.mux.cancel(this);
}

RequestOne.prototype.resolver = resolveOnce;
