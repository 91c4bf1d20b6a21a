export type ReplayStart =
  | { readonly policy: "by_start_time"; readonly time: Date }
  | { readonly policy: "by_start_sequence"; readonly sequence: number };

export interface ConsumerPosition {
  /** last stream sequence below which every message is acked (consumer info ack_floor.stream_seq) */
  readonly ackFloorSequence: number;
  /** messages delivered but not yet acked */
  readonly ackPending: number;
  /** messages not yet delivered */
  readonly pending: number;
  /** stored time of the message at ackFloorSequence + 1, when it exists */
  readonly firstUnackedTime: Date | null;
}

/**
 * Where the recreated consumer starts. Normally at `since`; but a message older than `since`
 * that the consumer has not acked yet (being retried, or not delivered at all) would be
 * skipped for good by a consumer that starts later, so then the start moves back to it.
 */
export function chooseReplayStart(since: Date, position: ConsumerPosition): ReplayStart {
  const hasUnacked = position.ackPending > 0 || position.pending > 0;
  if (!hasUnacked) return { policy: "by_start_time", time: since };
  const firstUnacked = position.ackFloorSequence + 1;
  // unknown time (message deleted or expired): starting at the sequence is the safe choice
  if (position.firstUnackedTime === null || position.firstUnackedTime < since) {
    return { policy: "by_start_sequence", sequence: firstUnacked };
  }
  return { policy: "by_start_time", time: since };
}
