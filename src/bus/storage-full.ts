import { JetStreamApiError } from "@nats-io/jetstream";

/** nats-server's JSInsufficientResourcesErr: its JetStream store (max_file_store, the volume) is full */
const INSUFFICIENT_RESOURCES = 10023;

/**
 * JetStream refused a write for want of room: the server's store is full ("insufficient
 * resources"), or a stream or KV bucket with a size limit that discards new writes is
 * ("maximum bytes exceeded", "maximum messages exceeded"). No retry succeeds until an operator
 * makes room, and then every one does: it is an outage, not the message's fault.
 */
export function isStorageFull(error: unknown): boolean {
  if (!(error instanceof JetStreamApiError)) return false;
  return (
    error.code === INSUFFICIENT_RESOURCES ||
    /insufficient (storage )?resources|maximum (bytes|messages) exceeded/i.test(error.message)
  );
}
