import { createHash } from "node:crypto";
import type { BuildEventData } from "./schema.ts";

/**
 * The event id names one state of one entity: provider, kind, entity id, attempt, phase,
 * status and the provider's own update time. The same state delivered twice (a GitHub
 * redelivery, a GitLab retry) hashes to the same id, and JetStream drops the copy because
 * the id is also the Nats-Msg-Id. Never random, never the delivery id (manual redeliveries
 * reuse it), never rendered text.
 */
export function eventId(data: BuildEventData): string {
  const entityId =
    data.kind === "job"
      ? `job:${data.job?.id ?? ""}`
      : data.kind === "deployment"
        ? `deployment:${data.deployment?.id ?? ""}`
        : `run:${data.run.id}`;
  const parts = [
    data.provider,
    data.kind,
    data.repository.id,
    entityId,
    String(data.run.attempt),
    data.phase,
    data.status,
    data.providerStatus,
    data.updatedAt ?? data.finishedAt ?? data.startedAt ?? data.createdAt ?? "",
  ];
  return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 40);
}

/** The run key: what all events of one run share (the CloudEvents `subject`). */
export function runKey(data: Pick<BuildEventData, "provider" | "repository" | "run">): string {
  return `${data.provider}/${data.repository.id}/${data.run.id}`;
}
