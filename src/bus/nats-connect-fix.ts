import { NodeTransport } from "@nats-io/transport-node/lib/node_transport.js";

/**
 * nats.js 3.x leaves the socket of a connect that timed out open: a port that takes the
 * connection and never sends NATS's INFO (a load balancer without a backend, another service's
 * port) makes the connect fail after `timeout`, and the transport's close returns at once
 * because it never connected. The socket stays until the other side closes it, which a silent
 * port never does: the gateway's background connect left one open every 6 s until it ran out of
 * file descriptors, and the CLI never exited. test/integration/nats-silent-port.test.ts pins it.
 */
// kept unbound on purpose: it is only ever called with .call(transport, …)
// eslint-disable-next-line @typescript-eslint/unbound-method
export const upstreamClose = NodeTransport.prototype.close;

NodeTransport.prototype.close = function close(this: NodeTransport, err?: Error): Promise<void> {
  if (!this.connected) {
    // a dial still under way destroys its socket as soon as it is made
    this.done = true;
    this.socket?.destroy(); // no socket until a dial succeeded
  }
  return upstreamClose.call(this, err);
};
