import { Queue, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { ChannelName } from "./keys.ts";
import { QUEUE_NAMES } from "./queue.ts";

export interface DeadLetter {
  /** `<channel>:<job id>`, what `dead-letters retry` takes */
  readonly id: string;
  readonly channel: ChannelName;
  /** the Slack channel or the e-mail recipients */
  readonly target: string;
  /** the route it was sent for (null: a Slack delivery queued before jobs named it) */
  readonly route: string | null;
  /** the run (or job/deployment) the notice is about */
  readonly subject: string;
  readonly reason: string;
  readonly attempts: number;
  readonly failedAt: Date | null;
}

const CHANNELS: readonly ChannelName[] = ["slack", "email"];

function describe(channel: ChannelName, job: Job): DeadLetter {
  const data = (job.data ?? {}) as {
    slackChannel?: string;
    to?: string[];
    entityKey?: string;
    route?: string;
  };
  return {
    id: `${channel}:${job.id ?? ""}`,
    channel,
    target: channel === "slack" ? (data.slackChannel ?? "") : (data.to ?? []).join(", "),
    route: data.route ?? null,
    subject: data.entityKey ?? "",
    reason: job.failedReason ?? "",
    attempts: job.attemptsMade,
    failedAt: job.finishedOn === undefined ? null : new Date(job.finishedOn),
  };
}

/** Failed deliveries (the bullmq failed sets of both channels), newest first. */
export class DeadLetters {
  private readonly queues: Record<ChannelName, Queue>;

  constructor(connection: Redis, prefix: string) {
    this.queues = {
      slack: new Queue(QUEUE_NAMES.slack, { connection, prefix }),
      email: new Queue(QUEUE_NAMES.email, { connection, prefix }),
    };
    // unheard, bullmq prints the error whole (an AUTH command with its password); a failed
    // command still rejects, and the CLI reports that
    for (const queue of Object.values(this.queues)) queue.on("error", () => undefined);
  }

  async list(): Promise<DeadLetter[]> {
    const rows: DeadLetter[] = [];
    for (const channel of CHANNELS) {
      const jobs = await this.queues[channel].getFailed(0, -1);
      rows.push(...jobs.map((job) => describe(channel, job)));
    }
    return rows.sort((a, b) => (b.failedAt?.getTime() ?? 0) - (a.failedAt?.getTime() ?? 0));
  }

  /**
   * Sends one dead letter again; false when no failed delivery has that id. It goes to its
   * route's current channel or recipients (`target` "route", resolved by the gateway's
   * worker: see channels/slack.ts and email.ts) or where it went before ("previous").
   */
  async retry(id: string, target: "route" | "previous" = "route"): Promise<boolean> {
    const [channel, jobId] = [id.slice(0, id.indexOf(":")), id.slice(id.indexOf(":") + 1)];
    if (channel !== "slack" && channel !== "email") return false;
    const job = await this.queues[channel].getJob(jobId);
    if (!job || !(await job.isFailed())) return false;
    await job.updateData({ ...(job.data as object), retryTarget: target });
    await job.retry("failed", { resetAttemptsMade: true });
    return true;
  }

  async retryAll(target: "route" | "previous" = "route"): Promise<string[]> {
    const retried: string[] = [];
    for (const letter of await this.list()) {
      if (await this.retry(letter.id, target)) retried.push(letter.id);
    }
    return retried;
  }

  async close(): Promise<void> {
    await Promise.all(CHANNELS.map((channel) => this.queues[channel].close()));
  }
}
