import type { KV } from "@nats-io/kv";
import { Queue, UnrecoverableError, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import nodemailer from "nodemailer";
import { encodeWord } from "nodemailer/lib/mime-funcs";
import type { Config, Route, Transition } from "../../config/schema.ts";
import { runKey } from "../../events/ids.ts";
import type { BuildEventData } from "../../events/schema.ts";
import type { Logger } from "../../observability/logger.ts";
import { inSpan, traceIdOrNull } from "../../observability/tracing.ts";
import type { Metrics } from "../../observability/metrics.ts";
import { readJson } from "../kv-state.ts";
import { recordKvKey, shortHash } from "../keys.ts";
import { authorEmail, authorUsername, findPerson } from "../people.ts";
import {
  QUEUE_NAMES,
  closeWorker,
  jobOptions,
  stalledJobOptions,
  throttledErrorLog,
  HeldJobs,
} from "../queue.ts";
import type { EntityRecord } from "../record.ts";
import { messageId, renderEmail } from "../render/email.ts";
import { trackEvents, type TrackCaches } from "../track.ts";
import { buildView, withJobAuthor, withRunCommit } from "../view.ts";
import type { DeliveryChannel } from "./channel.ts";
import { classifySmtpError, refusedRecipients, type RefusedRecipient } from "./smtp-errors.ts";

export interface EmailJobData {
  readonly route: string;
  readonly to: readonly string[];
  readonly transition: Transition;
  readonly noticeId: string;
  readonly threadRootId: string | null;
  readonly entityKey: string;
  /** the state at the transition: a mail tells what happened then, not what happens later */
  readonly data: BuildEventData;
  /** trace context of the event that caused the transition (log correlation, spans) */
  readonly traceparent?: string;
  /**
   * addresses that have the notice already: those the jobs of earlier routes matching it send
   * to, and those that took it from this job (absent in jobs queued before it was kept)
   */
  readonly mailed?: readonly string[];
  /**
   * set by `dead-letters retry`: "route" sends it to its route's current recipients but
   * `mailed` (not at all when the gateway's config no longer has the route's e-mail target),
   * "previous" to `to` whatever the routes say
   */
  readonly retryTarget?: "route" | "previous";
}

export interface EmailChannelDeps {
  readonly kv: KV;
  /** for workers (blocking) */
  readonly connection: Redis;
  /** for Queue.add (fails fast) */
  readonly producer: Redis;
  readonly config: Config;
  readonly smtpUrl: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** what this channel's consumer last wrote to its lanes and records */
  readonly caches: TrackCaches;
}

/**
 * Who gets a route's mail: its list, plus the commit author when asked; case-insensitively
 * unique, and none of the addresses in `mailed`, which it adds them to (routes that match the
 * same notice share one set, so an address gets it once).
 */
export function recipients(
  route: Route,
  data: BuildEventData,
  people: Config["people"],
  mailed: Set<string> = new Set(),
): string[] {
  if (!route.email) return [];
  const list = [...route.email.to];
  if (route.email.author) {
    const author = data.commit.author;
    const email = authorEmail(author, findPerson(people, data));
    if (email !== null) list.push(email);
  }
  return list.filter((address) => {
    const lower = address.toLowerCase();
    if (mailed.has(lower)) return false;
    mailed.add(lower);
    return true;
  });
}

/**
 * A subject as prepared encoded words, when it must be one. nodemailer sends an ASCII
 * subject as it is, and mail clients decode any `=?charset?B?…?=` in it (RFC 2047): a
 * workflow's name, or a GitLab pipeline's (`workflow:name: $CI_COMMIT_TITLE`), could make a
 * failure's subject read as anything. Encoded as a whole, it is shown as written.
 */
function encodedSubject(subject: string): { prepared: true; foldLines: true; value: string } | null {
  return subject.includes("=?")
    ? { prepared: true, foldLines: true, value: encodeWord(subject, "Q", 52) }
    : null;
}

/** One pooled transport; `pool` set in the URL so nodemailer keeps connections open. */
export function createTransport(smtpUrl: string) {
  const url = new URL(smtpUrl);
  url.searchParams.set("pool", "true");
  return nodemailer.createTransport(url.toString());
}

export function createEmailChannel(deps: EmailChannelDeps): DeliveryChannel {
  const { kv, connection, config, logger, metrics } = deps;
  const log = logger.child({ channel: "email" });
  const prefix = config.redis.prefix;
  // one line per interval while Redis is away, from the queue and the worker alike: without a
  // listener bullmq prints each reconnect's error as a raw stack trace on stderr
  const onQueueError = throttledErrorLog((error) =>
    log.warn({ err: error.message }, "e-mail queue or worker error"),
  );
  const queue = new Queue<EmailJobData>(QUEUE_NAMES.email, { connection: deps.producer, prefix });
  // (bullmq would otherwise console.error each error whole, an AUTH command's password included)
  queue.on("error", onQueueError);
  const transport = createTransport(deps.smtpUrl);
  const options = jobOptions("email", config.notify.delivery);
  const from = config.notify.email.from;
  let worker: Worker<EmailJobData> | undefined;
  const held = new HeldJobs();

  /**
   * Whom a dead letter an operator retried goes to: its route's recipients in this gateway's
   * config now (a corrected address, the author as before), but none that has the notice
   * already. A letter queued before jobs kept who has it goes to whom it was left with. A
   * route that is gone, or mails no one any more, sends nothing: the letter is dead again,
   * saying why. False: everyone on the route's list has it already.
   */
  const followRoute = async (job: Job<EmailJobData>): Promise<boolean> => {
    if (job.data.retryTarget !== "route") return true;
    const route = config.routes.find((candidate) => candidate.name === job.data.route);
    if (!route?.email) {
      throw new UnrecoverableError(
        `not sent: route ${job.data.route} is not in the gateway's config or sends no e-mail ` +
          `(dead-letters retry --old-target sends it to ${job.data.to.join(", ")})`,
      );
    }
    if (job.data.mailed === undefined) return true;
    const has = new Set(job.data.mailed.map((address) => address.toLowerCase()));
    const to = recipients(route, job.data.data, config.people, has);
    if (to.length === 0) return false;
    if (to.join("\n") !== job.data.to.join("\n")) await job.updateData({ ...job.data, to });
    return true;
  };

  const deliver = async (job: Job<EmailJobData>): Promise<string> => {
    if (!(await followRoute(job))) return "nothing to send: every recipient has it";
    const { data, transition, noticeId, threadRootId, entityKey } = job.data;
    // failed jobs come from the record: job events often arrive after the run's own event
    const stored = (await readJson<EntityRecord>(kv, recordKvKey("email", entityKey)))?.value;
    const jobs = stored?.jobs ?? {};
    const record: EntityRecord & { data: BuildEventData } = {
      version: 1,
      key: entityKey,
      data,
      jobs,
      notice: { transition, attempt: data.run.attempt, noticeId },
      targets: {},
      jobAuthor: stored?.jobAuthor ?? null,
    };
    const content = renderEmail(buildView(record, config.people, config.notify.dashboardUrl), transition);
    const root = threadRootId === null ? null : messageId(threadRootId, from);
    const encoded = encodedSubject(content.subject);
    let refused: RefusedRecipient[];
    let sent: string;
    try {
      const info = await transport.sendMail({
        from,
        to: [...job.data.to],
        ...(encoded === null ? { subject: content.subject } : {}),
        text: content.text,
        html: content.html,
        messageId: messageId(noticeId, from),
        ...(root === null ? {} : { inReplyTo: root, references: [root] }),
        headers: {
          ...(encoded === null ? {} : { Subject: encoded }),
          "X-Buildcast-Transition": transition,
          // RFC 3834 responders stay quiet on Auto-Submitted; Exchange's out-of-office and
          // auto-reply rules go by a header of its own (MS-OXCMAIL 2.1.3.2.20)
          "Auto-Submitted": "auto-generated",
          "X-Auto-Response-Suppress": "OOF, AutoReply",
        },
      });
      refused = refusedRecipients(info);
      sent = info.messageId;
      metrics.deliveries.inc({ channel: "email", outcome: "sent" });
      log.info(
        {
          traceId: traceIdOrNull(job.data.traceparent),
          transition,
          entity: entityKey,
          messageId: info.messageId,
          ...(refused.length > 0 ? { refused: refused.map((recipient) => recipient.address) } : {}),
        },
        "e-mail sent",
      );
    } catch (error) {
      const failure = classifySmtpError(error);
      if (failure.permanent) throw new UnrecoverableError(`smtp: ${failure.reason}`);
      throw new Error(`smtp: ${failure.reason}`, { cause: error });
    }
    if (refused.length === 0) return sent;
    // the others have the mail: what is left of this job (its retries, its dead letter, an
    // operator's retry) is the refused addresses alone
    const left = refused.map((recipient) => recipient.address);
    const refusedSet = new Set(left.map((address) => address.toLowerCase()));
    const took = job.data.to.filter((address) => !refusedSet.has(address.toLowerCase()));
    await job.updateData({
      ...job.data,
      to: left,
      ...(job.data.mailed === undefined ? {} : { mailed: [...job.data.mailed, ...took] }),
    });
    const reason = `smtp: refused ${refused.map((recipient) => `${recipient.address} (${recipient.reply})`).join(", ")}`;
    if (refused.every((recipient) => recipient.permanent)) throw new UnrecoverableError(reason);
    throw new Error(reason);
  };

  /**
   * Says, once per author, that a route asked to mail the commit's author and there is no
   * address to mail: GitHub's default for a user who keeps their e-mail private is a noreply
   * address, so the shipped route would otherwise mail no one without a word.
   */
  const unmailed = new Set<string>();
  const unmailedAuthor = (route: string, data: BuildEventData): void => {
    const username = authorUsername(data);
    const who = `${data.provider}:${username ?? data.commit.author?.name ?? ""}`;
    if (unmailed.has(who)) return;
    if (unmailed.size >= 10_000) unmailed.clear();
    unmailed.add(who);
    log.info(
      {
        route,
        provider: data.provider,
        author: username ?? data.commit.author?.name ?? null,
        repository: data.repository.fullName,
      },
      "the commit author has no e-mail address to mail (none, a noreply one, or not a plain address): add them to `people` with their e-mail and login",
    );
  };

  return {
    name: "email",
    async handle(events, context) {
      const { decisions, records } = await trackEvents(kv, "email", config.routes, events, {
        caches: deps.caches,
      });
      // the records as tracking just wrote them: every decided entity's, and for a job event
      // its run's (the job is folded into it)
      const recordOf = new Map(records.map(({ record }) => [record.key, record]));
      for (const { event, entityKey, decision, routes } of decisions) {
        if (decision.transition === null || decision.noticeId === null) continue;
        // a replayed decision is only re-queued for a redelivery (crash before Queue.add)
        if (!decision.fresh && !context.retry) continue;
        // an address that several matching routes name gets the notice once, from the first
        // (config order, so a redelivery derives the same jobs)
        const mailed = new Set<string>();
        // a job's mail takes the commit's title and author (and so the author's address) from
        // its run's record; a pipeline's, its author's username from the run's job events (GitLab)
        const run = event.data.kind === "job" ? recordOf.get(runKey(event.data))?.data : null;
        const about = withJobAuthor(withRunCommit(event.data, run), recordOf.get(entityKey)?.jobAuthor);
        const traceparent = context.traceparentFor(event.traceparent);
        for (const route of routes) {
          const others = [...mailed];
          if (
            route.email?.author &&
            authorEmail(about.commit.author, findPerson(config.people, about)) === null
          )
            unmailedAuthor(route.name, about);
          const to = recipients(route, about, config.people, mailed);
          if (to.length === 0) continue;
          const data: EmailJobData = {
            route: route.name,
            to,
            transition: decision.transition,
            noticeId: decision.noticeId,
            threadRootId: decision.threadRootId,
            entityKey,
            data: about,
            ...(traceparent ? { traceparent } : {}),
            mailed: others,
          };
          // the job id names the notice: adding it again is a no-op
          // delayed so the run's job events that come after its own are in the mail (it
          // reads the record when it is sent); every mail alike, so they keep their order
          await queue.add("deliver", data, {
            ...options,
            jobId: `email-${shortHash(decision.noticeId, route.name)}`,
            delay: config.notify.email.delay,
          });
        }
      }
    },
    startWorker() {
      const traced = (job: Job<EmailJobData>, token?: string) =>
        held.run(job, token, () =>
          inSpan("deliver email", job.data.traceparent, "client", () => deliver(job)),
        );
      worker = new Worker<EmailJobData>(QUEUE_NAMES.email, traced, {
        connection,
        prefix,
        concurrency: config.notify.delivery.concurrency,
        ...stalledJobOptions(config.notify.delivery),
      });
      worker.on("failed", (job, error) => {
        void (async () => {
          const dead = job ? await job.isFailed() : false;
          metrics.deliveries.inc({ channel: "email", outcome: dead ? "dead_letter" : "retry" });
          if (dead) metrics.deadLetters.set({ channel: "email" }, await queue.getFailedCount());
          log[dead ? "error" : "warn"](
            {
              job: job?.id,
              traceId: traceIdOrNull(job?.data.traceparent),
              route: job?.data.route,
              err: error.message,
            },
            dead ? "e-mail delivery dead-lettered" : "e-mail delivery failed; will retry",
          );
        })().catch(() => undefined);
      });
      worker.on("error", onQueueError);
    },
    deadLetterCount: () => queue.getFailedCount(),
    async close(redis, deadline) {
      await closeWorker(worker, held, redis, deadline);
      await queue.close();
      transport.close();
    },
  };
}
