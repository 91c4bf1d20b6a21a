import type { WebClient } from "@slack/web-api";
import { ErrorCode } from "@slack/web-api";

/**
 * Written to KV before a run's first chat.postMessage (and before each failure thread reply)
 * and carried in the message's metadata.
 * If the worker dies (or the answer is lost) after Slack posted but before the message ts
 * reached KV, the retry finds the message by this claim instead of posting a second one.
 */
export interface PostClaim {
  readonly id: string;
  /** ms since the epoch, when the claim was written: the history search starts a little before */
  readonly at: number;
}

export const CLAIM_EVENT_TYPE = "buildcast_notice";

export const claimMetadata = (claim: PostClaim) => ({
  event_type: CLAIM_EVENT_TYPE,
  event_payload: { claim: claim.id },
});

/**
 * Slack's errors that may come after the call did its work: "It's possible some aspect of
 * the operation succeeded before the error was raised" (docs of every Web API method).
 */
const MAY_HAVE_POSTED: ReadonlySet<string> = new Set(["fatal_error", "internal_error"]);

/**
 * Whether Slack answered the failed call: then it did not post, and the claim can go. A 5xx
 * is no such answer: a proxy or load balancer in front of Slack answers 502/503/504 when its
 * wait ran out, and Slack may have posted all the same. Nor are fatal_error and internal_error.
 */
export function slackAnswered(error: unknown): boolean {
  const e = (typeof error === "object" && error !== null ? error : {}) as {
    code?: unknown;
    statusCode?: unknown;
    data?: { error?: unknown };
  };
  if (e.code === ErrorCode.HTTPError) return typeof e.statusCode === "number" && e.statusCode < 500;
  if (e.code === ErrorCode.PlatformError) {
    return typeof e.data?.error !== "string" || !MAY_HAVE_POSTED.has(e.data.error);
  }
  return e.code !== ErrorCode.RequestError && typeof e.code === "string";
}

const PAGES = 5;

const carries = (
  message: { metadata?: { event_type?: string; event_payload?: unknown } },
  claim: PostClaim,
): boolean =>
  message.metadata?.event_type === CLAIM_EVENT_TYPE &&
  // the SDK types event_payload as {}: it is whatever the poster put there
  (message.metadata.event_payload as { claim?: unknown } | undefined)?.claim === claim.id;

interface MessagePage {
  readonly messages?: readonly { ts?: string; metadata?: { event_type?: string; event_payload?: unknown } }[];
  readonly has_more?: boolean;
  readonly response_metadata?: { next_cursor?: string };
}

/** Slack's clock and ours may differ by this much. */
const CLOCK_SKEW_MS = 60_000;

const slackTime = (ms: number): string => (ms / 1000).toFixed(6);

/**
 * The ts of the message carrying `claim`, from up to PAGES pages of what was posted from a
 * minute before the claim until a minute after `settleMs` past it, when a post given up on
 * has shown up or never will (`read` asks Slack for one page, given the window and a cursor).
 * Slack pages the history newest first: without the end of the window a retry long after the
 * claim (a dead letter retried the next day) would page through everything posted since, and
 * not reach the claimed message in a busy channel.
 */
async function findClaim(
  claim: PostClaim,
  settleMs: number,
  read: (window: {
    oldest: string;
    latest: string;
    include_all_metadata: true;
    limit: number;
    cursor?: string;
  }) => Promise<MessagePage>,
): Promise<string | null> {
  let cursor: string | undefined;
  for (let page = 0; page < PAGES; page++) {
    const answer = await read({
      oldest: slackTime(claim.at - CLOCK_SKEW_MS),
      latest: slackTime(claim.at + settleMs + CLOCK_SKEW_MS),
      include_all_metadata: true,
      limit: 200,
      ...(cursor ? { cursor } : {}),
    });
    const hit = (answer.messages ?? []).find((message) => carries(message, claim));
    if (hit?.ts) return hit.ts;
    cursor = answer.response_metadata?.next_cursor;
    if (!answer.has_more || !cursor) return null;
  }
  return null;
}

/** The ts of the reply a claim posted in the thread under `threadTs`; null when it is not there. */
export function findClaimedReply(
  client: WebClient,
  channel: string,
  threadTs: string,
  claim: PostClaim,
  settleMs: number,
): Promise<string | null> {
  return findClaim(claim, settleMs, (window) =>
    client.conversations.replies({ channel, ts: threadTs, ...window }),
  );
}

/**
 * The message a claim posted, from the channel's recent history (needs the channels:history
 * scope and a channel id). Null when it is not there: the earlier attempt never posted.
 */
export async function findClaimedMessage(
  client: WebClient,
  channel: string,
  claim: PostClaim,
  settleMs: number,
): Promise<{ ts: string; channelId: string } | null> {
  const ts = await findClaim(claim, settleMs, (window) =>
    client.conversations.history({ channel, ...window }),
  );
  return ts === null ? null : { ts, channelId: channel };
}
