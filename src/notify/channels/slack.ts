import { randomUUID } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { WebClient } from "@slack/web-api";
import { DelayedError, Queue, UnrecoverableError, WaitingError, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { runKey } from "../../events/ids.ts";
import type { Config, Route } from "../../config/schema.ts";
import type { Logger } from "../../observability/logger.ts";
import { inSpan, traceIdOrNull } from "../../observability/tracing.ts";
import type { Metrics } from "../../observability/metrics.ts";
import { isConflict } from "../../bus/kv-cas.ts";
import { casUpdate, readJson } from "../kv-state.ts";
import {
  legacySlackMessageKvKey,
  recordKvKey,
  shortHash,
  slackClaimKvKey,
  slackMessageKvKey,
  slackReplyClaimKvKey,
} from "../keys.ts";
import {
  QUEUE_NAMES,
  closeWorker,
  jobOptions,
  stalledJobOptions,
  throttledErrorLog,
  HeldJobs,
} from "../queue.ts";
import type { EntityRecord, SlackTarget } from "../record.ts";
import { renderSlackFailureThread, renderSlackMessage, type SlackMessage } from "../render/slack.ts";
import { trackEvents, type TrackCaches } from "../track.ts";
import { buildView, withRunCommit } from "../view.ts";
import type { DeliveryChannel } from "./channel.ts";
import {
  claimMetadata,
  findClaimedMessage,
  findClaimedReply,
  slackAnswered,
  type PostClaim,
} from "./slack-claim.ts";
import { classifySlackError, messageGone, slackFix } from "./slack-errors.ts";
import { slackSdkLogger } from "./slack-sdk-logger.ts";
import { checkSlackToken } from "./slack-token.ts";
import { createTokenGate } from "./slack-token-gate.ts";

export interface SlackJobData {
  readonly slackChannel: string;
  readonly entityKey: string;
  /** the route that sends it to slackChannel (absent in jobs queued before it was kept) */
  readonly route?: string;
  /**
   * set by `dead-letters retry`: "route" sends it to its route's current channel (and not at
   * all when the gateway's config no longer has the route's Slack target), "previous" to
   * slackChannel whatever the routes say
   */
  readonly retryTarget?: "route" | "previous";
  /** trace context of the newest event behind this job (log correlation, spans) */
  readonly traceparent?: string;
}

/** The message about one entity in one Slack channel, kept in KV so any replica can update it. */
interface SlackMessageState {
  readonly ts: string;
  /** the id Slack answered with (postMessage accepts names, chat.update needs the id) */
  readonly channelId: string;
  /** hash of what was last sent: an identical render costs no call */
  readonly hash: string;
  readonly lastCallAt: number;
  /** the attempt whose failed jobs were posted as a thread reply */
  readonly threadAttempt: number | null;
  /**
   * that reply's ts and the hash of what it last said (absent in state written before they
   * were kept): a failed job known only after the reply went out is added to it
   */
  readonly threadTs?: string | null;
  readonly threadHash?: string;
  /**
   * a thread reply Slack refused for good, and the delivery dead-lettered for it: later
   * deliveries of that attempt leave the reply to that dead letter's retry
   */
  readonly threadRefused?: { readonly attempt: number; readonly job: string } | null;
}

/** The job being delivered: what it is about, and what the calls that may put it back to wait need. */
interface Delivery {
  readonly job: Job<SlackJobData>;
  /** the worker's lock token for the job (Job.moveToDelayed needs it) */
  readonly token: string | undefined;
  readonly log: Logger;
  /** KV key of the run's message in the job's channel (slackMessageKvKey) */
  readonly messageKey: string;
}

export interface SlackChannelDeps {
  readonly kv: KV;
  /** for workers (blocking) */
  readonly connection: Redis;
  /** for Queue.add (fails fast) */
  readonly producer: Redis;
  readonly config: Config;
  readonly token: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** what this channel's consumer last wrote to its lanes and records */
  readonly caches: TrackCaches;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The `fix` a dead-lettered delivery's log line carries, when Slack's error has a known one. */
function withFix(message: string): { fix?: string } {
  const fix = slackFix(message);
  return fix === null ? {} : { fix };
}

/** A Slack call refused the bot token (TOKEN_REFUSALS): the delivery waits for the token. */
class TokenRefusedError extends Error {}

/** The gateway is stopping: the delivery makes no further call and goes back to wait. */
class StoppingError extends Error {}

/**
 * How long a delivery that found the token refused waits before it can be taken again. The
 * worker of this replica is paused meanwhile, so this is no busy loop: it only lets another
 * replica that Slack takes (a new token rolling out) take it soon.
 */
const TOKEN_WAIT_MS = 1000;

const targetsOf = (routes: readonly Route[]): Record<string, SlackTarget> =>
  Object.fromEntries(
    routes.flatMap((route) =>
      route.slack
        ? [
            [
              route.slack.channel,
              {
                route: route.name,
                mentionAuthor: route.slack.mentionAuthor,
                threadFailures: route.slack.threadFailures,
              },
            ],
          ]
        : [],
    ),
  );

export function createSlackChannel(deps: SlackChannelDeps): DeliveryChannel {
  const { kv, connection, config, logger, metrics } = deps;
  const log = logger.child({ channel: "slack" });
  const prefix = config.redis.prefix;
  // one line per interval while Redis is away, from the queue and the worker alike: without a
  // listener bullmq prints each reconnect's error as a raw stack trace on stderr
  const onQueueError = throttledErrorLog((error) =>
    log.warn({ err: error.message }, "Slack queue or worker error"),
  );
  const queue = new Queue<SlackJobData>(QUEUE_NAMES.slack, { connection: deps.producer, prefix });
  // (bullmq would otherwise console.error each error whole, an AUTH command's password included)
  queue.on("error", onQueueError);
  const sdkLog = slackSdkLogger(log);
  const client = new WebClient(deps.token, {
    slackApiUrl: config.notify.slack.apiUrl,
    logger: sdkLog.logger,
    // bullmq owns retries and waiting: a 429 or 5xx must come back to the job at once
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: config.notify.slack.timeout,
  });
  // how long after its claim a post given up on may still show up in the channel: Slack can
  // carry out a call after the client stopped waiting for its answer
  const settleMs = 3 * config.notify.slack.timeout;
  const options = jobOptions("slack", config.notify.delivery);
  let worker: Worker<SlackJobData> | undefined;
  let closed = false;
  const held = new HeldJobs();
  const gate = createTokenGate({
    check: () => checkSlackToken(client),
    recheckMs: config.notify.slack.tokenRecheck,
    log,
    setRefused: (refused) => metrics.slackTokenRefused.set(refused ? 1 : 0),
    // not waiting for the running deliveries: they are what calls this
    pause: () => void worker?.pause(true).catch(() => undefined),
    run: () => {
      if (!closed) void worker?.resume().catch(() => undefined);
    },
  });

  // bullmq's rate limit stops new jobs; jobs already running (concurrency > 1) check this
  // before each call, so none reaches Slack inside a Retry-After window
  let pausedUntil = 0;
  /** Puts the job back to wait (no attempt spent) while a 429's Retry-After runs. */
  const holdWhilePaused = async (): Promise<void> => {
    // every call comes through here, and so does every claim before its post: between two
    // calls what a delivery did is in KV, where the one that takes it up again carries on
    if (closed) throw new StoppingError("the gateway is stopping");
    const pause = pausedUntil - Date.now();
    if (pause > 0) {
      await queue.rateLimit(pause);
      throw Worker.RateLimitError();
    }
    // a 429 another replica got reaches this one only as the queue's limiter in Redis, which
    // Queue.rateLimit sets to MAX_SAFE_INTEGER: the worker's own count never gets that high
    if ((await queue.getRateLimitTtl(Number.MAX_SAFE_INTEGER)) > 0) throw Worker.RateLimitError();
  };
  /** One Slack call, its 429 pausing the queue; `call` checks the pause first, postClaimed before its claim. */
  const callUnpaused = async <T>(jobLog: Logger, what: string, send: () => Promise<T>): Promise<T> => {
    try {
      return await sdkLog.within(jobLog, send);
    } catch (error) {
      const failure = classifySlackError(error);
      if (failure.kind === "token_refused") {
        gate.refused(failure.reason);
        throw new TokenRefusedError(`slack ${what}: ${failure.reason}`);
      }
      if (failure.kind === "rate_limited") {
        metrics.slackRateLimited.inc();
        metrics.deliveries.inc({ channel: "slack", outcome: "rate_limited" });
        jobLog.warn(
          { retryAfterMs: failure.retryAfterMs, call: what },
          "Slack rate limit; pausing the queue",
        );
        pausedUntil = Math.max(pausedUntil, Date.now() + failure.retryAfterMs);
        await queue.rateLimit(failure.retryAfterMs);
        throw Worker.RateLimitError();
      }
      if (failure.kind === "permanent") throw new UnrecoverableError(`slack ${what}: ${failure.reason}`);
      throw new Error(`slack ${what}: ${failure.reason}`, { cause: error });
    }
  };
  const call = async <T>(jobLog: Logger, what: string, send: () => Promise<T>): Promise<T> => {
    await holdWhilePaused();
    return callUnpaused(jobLog, what, send);
  };

  const saveMessage = (key: string, patch: Partial<SlackMessageState> & { ts: string; channelId: string }) =>
    casUpdate<SlackMessageState, SlackMessageState>(kv, key, (current) => {
      const next: SlackMessageState = {
        hash: "",
        lastCallAt: 0,
        threadAttempt: null,
        ...current,
        ...patch,
      };
      return { next, result: next };
    });

  /**
   * Two deliveries of one message can run at once (dead letters retried together, or one
   * beside a new event's job): the one that finds the other got there first (posting, or
   * replacing a gone message) waits a moment, without spending an attempt, and then carries
   * on from what the other one did.
   */
  const waitForOtherDelivery = async (delivery: Delivery, doing: string): Promise<never> => {
    delivery.log.info({ doing }, "another delivery of this message got there first; waiting for it");
    await delivery.job.moveToDelayed(Date.now() + config.notify.slack.minInterval, delivery.token);
    throw new DelayedError();
  };

  /**
   * Posts with a claim written to KV first and carried as the message's metadata, so a try
   * that dies or loses Slack's answer can find what it posted (slack-claim.ts). An error
   * Slack answered means nothing was posted: the claim goes.
   *
   * The claim is written only over the one this delivery looked at (`seen`, its revision, or
   * null for none): a delivery that finds it claimed since waits for the other one and then
   * updates what that one posted, instead of posting a second message.
   */
  const postClaimed = async <T>(
    delivery: Delivery,
    what: string,
    claimKey: string,
    seen: number | null,
    post: (metadata: ReturnType<typeof claimMetadata>) => Promise<T>,
  ): Promise<T> => {
    // a claim left by a post the pause held back would make the next try look for that post
    // and wait for it as one Slack may still be carrying out (settleMs), though it never left
    await holdWhilePaused();
    const claim: PostClaim = { id: randomUUID(), at: Date.now() };
    try {
      if (seen === null) await kv.create(claimKey, JSON.stringify(claim));
      else await kv.update(claimKey, JSON.stringify(claim), seen);
    } catch (error) {
      if (isConflict(error)) return waitForOtherDelivery(delivery, what);
      throw error;
    }
    // not `call`: a pause found now would leave the claim just written behind
    return callUnpaused(delivery.log, what, async () => {
      try {
        return await post(claimMetadata(claim));
      } catch (error) {
        if (slackAnswered(error)) await kv.delete(claimKey).catch(() => undefined);
        throw error;
      }
    });
  };

  /**
   * Looks for what an earlier try posted under its claim; null when it was not found or
   * cannot be looked for (no channels:history scope, or a channel name instead of an id:
   * posting may then double it). A claim younger than settleMs that is not found yet may be
   * a post Slack is still carrying out (the try gave up waiting for its answer): the job
   * waits for it, without spending an attempt, rather than post a second one.
   */
  const findClaimed = async <T>(
    delivery: Delivery,
    what: string,
    posted: string,
    claim: PostClaim,
    find: () => Promise<T | null>,
  ): Promise<T | null> => {
    let found: T | null;
    try {
      found = await call(delivery.log, what, find);
    } catch (error) {
      if (!(error instanceof UnrecoverableError)) throw error;
      delivery.log.warn({ err: error.message }, `cannot look for an earlier attempt's ${posted}; posting`);
      return null;
    }
    const settled = claim.at + settleMs;
    if (found === null && settled > Date.now()) {
      delivery.log.info(
        { waitMs: settled - Date.now() },
        `an earlier attempt's ${posted} may still reach Slack; looking again before posting`,
      );
      await delivery.job.moveToDelayed(settled, delivery.token);
      throw new DelayedError();
    }
    return found;
  };

  /**
   * A claim without a saved message means an earlier attempt died (or lost its answer) around
   * chat.postMessage: adopt the message it may have posted rather than post a second one.
   * `claimRevision` is the claim looked at (null: none), for postClaimed.
   */
  const adoptClaimed = async (
    delivery: Delivery,
  ): Promise<{ adopted: SlackMessageState | null; claimRevision: number | null }> => {
    const { slackChannel, entityKey } = delivery.job.data;
    const stored = await readJson<PostClaim>(kv, slackClaimKvKey(slackChannel, entityKey));
    if (!stored) return { adopted: null, claimRevision: null };
    const claim = stored.value;
    const found = await findClaimed(delivery, "conversations.history", "message", claim, () =>
      findClaimedMessage(client, slackChannel, claim, settleMs),
    );
    if (!found) return { adopted: null, claimRevision: stored.revision };
    delivery.log.info({ ts: found.ts }, "adopted the message an interrupted attempt posted");
    // an empty hash makes this job update the adopted message to the current render
    const adopted = await saveMessage(delivery.messageKey, { ...found, hash: "", lastCallAt: 0 });
    return { adopted, claimRevision: stored.revision };
  };

  /** Whether another delivery was dead-lettered for this attempt's thread reply. */
  const refusedElsewhere = (state: SlackMessageState, attempt: number, job: string | undefined): boolean =>
    state.threadRefused?.attempt === attempt && state.threadRefused.job !== job;

  const readRecord = async (entityKey: string) =>
    (await readJson<EntityRecord>(kv, recordKvKey("slack", entityKey)))?.value ?? null;

  /**
   * Edits a posted message (or thread reply) to `message`; false when it is gone: deleted in
   * the channel, or no longer editable (slack-errors.ts, messageGone).
   */
  const updateMessage = (
    jobLog: Logger,
    what: string,
    channel: string,
    ts: string,
    message: SlackMessage,
  ): Promise<boolean> =>
    call(jobLog, what, async () => {
      try {
        await client.chat.update({ channel, ts, text: message.text, blocks: [...message.blocks] });
        return true;
      } catch (error) {
        if (messageGone(error)) return false;
        throw error;
      }
    });

  /**
   * The failure thread reply of a run's attempt. Like the first post it is claimed first: a
   * try that lost Slack's answer (a timeout, a crash) finds it in the thread instead of
   * posting it again.
   */
  const postReply = async (
    delivery: Delivery,
    state: SlackMessageState,
    attempt: number,
    reply: SlackMessage,
    replyHash: string,
  ): Promise<void> => {
    const { ts, channelId } = state;
    const { slackChannel, entityKey } = delivery.job.data;
    const claimKey = slackReplyClaimKvKey(slackChannel, entityKey, attempt);
    const stored = await readJson<PostClaim>(kv, claimKey);
    const earlier = stored?.value;
    const adopted = earlier
      ? await findClaimed(delivery, "conversations.replies", "thread reply", earlier, () =>
          findClaimedReply(client, channelId, ts, earlier, settleMs),
        )
      : null;
    let posted: { ts: string; hash: string } | null;
    if (adopted) {
      delivery.log.info({ ts, reply: adopted }, "adopted the thread reply an interrupted attempt posted");
      // what it says is not known: the next delivery brings it up to date
      posted = { ts: adopted, hash: "" };
    } else {
      try {
        const answer = await postClaimed(
          delivery,
          "chat.postMessage (thread)",
          claimKey,
          stored?.revision ?? null,
          (metadata) =>
            client.chat.postMessage({
              channel: channelId,
              thread_ts: ts,
              text: reply.text,
              blocks: [...reply.blocks],
              unfurl_links: false,
              metadata,
            }),
        );
        posted = answer.ts ? { ts: answer.ts, hash: replyHash } : null;
      } catch (error) {
        // one dead letter says so; without this every later event of the run would add one
        if (error instanceof UnrecoverableError && delivery.job.id !== undefined) {
          await saveMessage(delivery.messageKey, {
            ts,
            channelId,
            threadRefused: { attempt, job: delivery.job.id },
          });
        }
        throw error;
      }
    }
    await saveMessage(delivery.messageKey, {
      ts,
      channelId,
      threadAttempt: attempt,
      threadTs: posted?.ts ?? null,
      threadHash: posted?.hash ?? "",
      lastCallAt: Date.now(),
    });
  };

  /**
   * Brings the reply up to date when the failed jobs changed after it went out: GitLab may
   * send a pipeline's failure before the hooks of its last failing jobs. A reply someone
   * deleted is left alone.
   */
  const updateReply = async (
    delivery: Delivery,
    state: SlackMessageState,
    reply: SlackMessage,
    replyHash: string,
  ): Promise<void> => {
    const { ts, channelId, threadTs } = state;
    if (!threadTs) return;
    const updated = await updateMessage(delivery.log, "chat.update (thread)", channelId, threadTs, reply);
    if (!updated) delivery.log.info({ ts, reply: threadTs }, "the failure thread reply is gone; left alone");
    await saveMessage(delivery.messageKey, {
      ts,
      channelId,
      threadTs: updated ? threadTs : null,
      threadHash: replyHash,
      lastCallAt: Date.now(),
    });
  };

  /**
   * Where a dead letter an operator retried goes: the channel its route names in this
   * gateway's config now (the CLI may have read another file), so a corrected channel id
   * takes it. The job then names that channel: what it sends there is the run's message in
   * that channel, never an update of one in the old channel. A route that is gone, or sends
   * no Slack any more, sends nothing: the letter is dead again, saying why. Null: the job
   * goes where it says (not retried so, or retried with --old-target).
   */
  const followRoute = async (job: Job<SlackJobData>): Promise<SlackTarget | null> => {
    if (job.data.retryTarget !== "route") return null;
    const { slackChannel, entityKey } = job.data;
    const name = job.data.route ?? (await readRecord(entityKey))?.targets[slackChannel]?.route;
    const route = config.routes.find((candidate) => candidate.name === name);
    if (name === undefined || !route?.slack) {
      throw new UnrecoverableError(
        `not sent: ${name === undefined ? "its route is unknown" : `route ${name} is not in the gateway's config or sends no Slack`} ` +
          `(dead-letters retry --old-target sends it to ${slackChannel})`,
      );
    }
    const target: SlackTarget = {
      route: route.name,
      mentionAuthor: route.slack.mentionAuthor,
      threadFailures: route.slack.threadFailures,
    };
    // the job names the route first: a try after a crash in between still knows it
    if (route.slack.channel !== slackChannel || job.data.route !== route.name) {
      await job.updateData({ ...job.data, slackChannel: route.slack.channel, route: route.name });
    }
    await moveTarget(entityKey, target, route.slack.channel);
    return target;
  };

  /**
   * The run's record names the route's current channel in place of those it named for the
   * route before: the run's later events update its message there, and queue nothing for a
   * channel the route left (which would be a dead letter again after a corrected channel id).
   * A channel another route still sends to stays. Each try of the job does it again, so a
   * crash before it cannot leave the record behind.
   */
  const moveTarget = (entityKey: string, target: SlackTarget, to: string) =>
    casUpdate<EntityRecord, null>(kv, recordKvKey("slack", entityKey), (current) => {
      if (current === null) return { next: null, result: null };
      const named = new Set(config.routes.flatMap((route) => (route.slack ? [route.slack.channel] : [])));
      const left = Object.keys(current.targets).filter(
        (channel) =>
          channel !== to && current.targets[channel]?.route === target.route && !named.has(channel),
      );
      if (left.length === 0 && current.targets[to]) return { next: null, result: null };
      const targets = Object.fromEntries(
        Object.entries(current.targets).filter(([channel]) => !left.includes(channel)),
      );
      return {
        next: { ...current, targets: { ...targets, [to]: current.targets[to] ?? target } },
        result: null,
      };
    });

  const deliver = async (job: Job<SlackJobData>, token: string | undefined): Promise<string> => {
    // fetched while the worker was being paused: it waits with the others
    if (gate.isRefused()) throw new TokenRefusedError("Slack refuses the bot token");
    const routed = await followRoute(job);
    const { slackChannel, entityKey } = job.data;
    const jobLog = log.child({
      traceId: traceIdOrNull(job.data.traceparent),
      slackChannel,
      entity: entityKey,
    });
    const messageKey = slackMessageKvKey(slackChannel, entityKey);
    const delivery: Delivery = { job, token, log: jobLog, messageKey };
    // a run whose key hashes a name may have its message from an earlier release, which kept
    // it under the name: update that one rather than post a second
    const legacyKey = legacySlackMessageKvKey(slackChannel, entityKey);
    const previous =
      (await readJson<SlackMessageState>(kv, messageKey))?.value ??
      (legacyKey === null ? null : ((await readJson<SlackMessageState>(kv, legacyKey))?.value ?? null));
    // spacing calls for one message coalesces bursts: newer states pile up behind this job
    const wait = (previous?.lastCallAt ?? 0) + config.notify.slack.minInterval - Date.now();
    if (wait > 0) await sleep(wait);

    const record = await readRecord(entityKey);
    const target = routed ?? record?.targets[slackChannel];
    if (!record?.data || !target) return "nothing to send";
    // a job's notice takes the commit's title and author from its run's record
    const run = record.data.kind === "job" ? (await readRecord(runKey(record.data)))?.data : null;
    const data = withRunCommit(record.data, run);
    const view = buildView({ ...record, data }, config.people, config.notify.dashboardUrl);
    const message: SlackMessage = renderSlackMessage(view, { mentionAuthor: target.mentionAuthor });
    const hash = shortHash(JSON.stringify(message));

    const claimKey = slackClaimKvKey(slackChannel, entityKey);
    let claimRevision: number | null = null;
    let state = previous;
    if (state === null) ({ adopted: state, claimRevision } = await adoptClaimed(delivery));
    // a thread reply Slack refused for good is refused in the channel, not in one message: the
    // refusal (and its one dead letter) carries over to a message posted in place of a gone one
    let refusal: SlackMessageState["threadRefused"] = null;
    if (state !== null && state.hash !== hash) {
      const { ts, channelId } = state;
      const updated = await updateMessage(jobLog, "chat.update", channelId, ts, message);
      if (updated) {
        state = await saveMessage(messageKey, { ts, channelId, hash, lastCallAt: Date.now() });
        metrics.deliveries.inc({ channel: "slack", outcome: "updated" });
        jobLog.info({ ts }, "Slack message updated");
      } else {
        // someone deleted the message (or it can no longer be edited): the run's news would
        // otherwise be dead-lettered with every later event, so it gets a new message; the
        // saved one goes first, so a retry after a crash adopts the new post by its claim.
        // Only one delivery replaces it: another of this message running at once (dead letters
        // retried together) may have done so since this one read it
        const saved = await readJson<SlackMessageState>(kv, messageKey);
        if (saved?.value.ts !== ts) return waitForOtherDelivery(delivery, "replacing the gone message");
        try {
          await kv.delete(messageKey, { previousSeq: saved.revision });
        } catch (error) {
          if (isConflict(error)) return waitForOtherDelivery(delivery, "replacing the gone message");
          throw error;
        }
        jobLog.warn({ ts }, "the run's Slack message is gone; posting a new one");
        // its thread reply went with it: the new message's reply must not wait for that one's
        // claim as if it might still be on its way to Slack
        await kv.delete(slackReplyClaimKvKey(slackChannel, entityKey, view.attempt));
        refusal = state.threadRefused ?? null;
        claimRevision = (await readJson<PostClaim>(kv, claimKey))?.revision ?? null;
        state = null;
      }
    }
    if (state === null) {
      const posted = await postClaimed(delivery, "chat.postMessage", claimKey, claimRevision, (metadata) =>
        client.chat.postMessage({
          channel: slackChannel,
          text: message.text,
          blocks: [...message.blocks],
          unfurl_links: false,
          unfurl_media: false,
          metadata,
        }),
      );
      if (!posted.ts) throw new UnrecoverableError("slack chat.postMessage: answer without ts");
      state = await saveMessage(messageKey, {
        ts: posted.ts,
        channelId: posted.channel ?? slackChannel,
        hash,
        lastCallAt: Date.now(),
        ...(refusal ? { threadRefused: refusal } : {}),
      });
      metrics.deliveries.inc({ channel: "slack", outcome: "sent" });
      jobLog.info({ ts: posted.ts }, "Slack message posted");
    }

    if (
      target.threadFailures &&
      view.tone === "failure" &&
      view.failedJobs.length > 0 &&
      !refusedElsewhere(state, view.attempt, job.id)
    ) {
      const reply = renderSlackFailureThread(view);
      const replyHash = shortHash(JSON.stringify(reply));
      if (state.threadAttempt !== view.attempt) {
        await postReply(delivery, state, view.attempt, reply, replyHash);
      } else if (state.threadTs && state.threadHash !== replyHash) {
        await updateReply(delivery, state, reply, replyHash);
      }
    }
    return state.ts;
  };

  return {
    name: "slack",
    async handle(events, context) {
      const { records } = await trackEvents(kv, "slack", config.routes, events, {
        targetsOf,
        caches: deps.caches,
      });
      for (const { record, changed, traceparent: eventTraceparent } of records) {
        // a redelivery may follow a crash between the KV write and Queue.add: add again
        if (!changed && !context.retry) continue;
        const traceparent = context.traceparentFor(eventTraceparent);
        for (const slackChannel of Object.keys(record.targets)) {
          const route = record.targets[slackChannel]?.route;
          await queue.add(
            "deliver",
            {
              slackChannel,
              entityKey: record.key,
              ...(route === undefined ? {} : { route }),
              ...(traceparent ? { traceparent } : {}),
            },
            {
              ...options,
              deduplication: {
                id: shortHash("slack", slackChannel, record.key),
                keepLastIfActive: true,
                replace: true,
              },
            },
          );
        }
      }
    },
    startWorker() {
      const traced = (job: Job<SlackJobData>, token?: string) =>
        held.run(job, token, async () => {
          try {
            return await inSpan("deliver slack", job.data.traceparent, "client", () => deliver(job, token));
          } catch (error) {
            if (error instanceof StoppingError) {
              // a shutdown's next process or another replica takes it at once, its attempt not
              // spent, instead of bullmq's stalled-job check once its 30 s lock has expired
              log.info(
                { job: job.id, slackChannel: job.data.slackChannel },
                "stopping; the delivery goes back to wait",
              );
              // (unless the shutdown already handed it back: closeWorker)
              if (held.holds(job)) await job.moveToWait(token);
              throw new WaitingError();
            }
            if (!(error instanceof TokenRefusedError)) throw error;
            // a property of the token, not of this notice: it waits, without spending an attempt,
            // and the worker, paused by the gate, takes it again once Slack takes the token
            log.debug({ job: job.id, err: error.message }, "Slack refuses the bot token; the delivery waits");
            await job.moveToDelayed(Date.now() + TOKEN_WAIT_MS, token);
            throw new DelayedError();
          }
        });
      worker = new Worker<SlackJobData>(QUEUE_NAMES.slack, traced, {
        // it runs once auth.test did not refuse the token (the gate's run)
        autorun: false,
        connection,
        prefix,
        concurrency: config.notify.delivery.concurrency,
        ...stalledJobOptions(config.notify.delivery),
        // bullmq only honours Queue.rateLimit (our 429 pause) when a limiter is set; Slack's
        // own limits are per channel and far below this ceiling
        limiter: { max: 50, duration: 1000 },
      });
      worker.on("failed", (job, error) => {
        void (async () => {
          const dead = job ? await job.isFailed() : false;
          metrics.deliveries.inc({ channel: "slack", outcome: dead ? "dead_letter" : "retry" });
          if (dead) metrics.deadLetters.set({ channel: "slack" }, await queue.getFailedCount());
          log[dead ? "error" : "warn"](
            {
              job: job?.id,
              traceId: traceIdOrNull(job?.data.traceparent),
              slackChannel: job?.data.slackChannel,
              run: job?.data.entityKey,
              err: error.message,
              ...(dead ? withFix(error.message) : {}),
            },
            dead ? "Slack delivery dead-lettered" : "Slack delivery failed; will retry",
          );
        })().catch(() => undefined);
      });
      worker.on("error", onQueueError);
      gate.start().catch((error: unknown) => log.error({ err: String(error) }, "Slack token check failed"));
    },
    health: () => gate.describe(),
    deadLetterCount: () => queue.getFailedCount(),
    async close(redis, deadline) {
      closed = true;
      gate.stop();
      await closeWorker(worker, held, redis, deadline);
      await queue.close();
    },
  };
}
