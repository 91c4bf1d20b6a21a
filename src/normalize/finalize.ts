import { EventValidationError, parseBuildEvent, toBuildEvent } from "../events/build-event.ts";
import type { BuildEvent, BuildEventData } from "../events/schema.ts";
import { webUrl } from "../events/web-url.ts";
import { PayloadError } from "./errors.ts";

/** Only web links leave a payload (see webUrl). */
function withWebUrls(data: BuildEventData): BuildEventData {
  return {
    ...data,
    repository: { ...data.repository, url: webUrl(data.repository.url) },
    run: { ...data.run, url: webUrl(data.run.url) },
    ...(data.job === undefined ? {} : { job: { ...data.job, url: webUrl(data.job.url) } }),
    ...(data.deployment === undefined
      ? {}
      : { deployment: { ...data.deployment, url: webUrl(data.deployment.url) } }),
    commit: { ...data.commit, url: webUrl(data.commit.url) },
  };
}

/**
 * Producers validate. Data that fails the contract came from a payload that is not what
 * it claims to be, so the caller sees a PayloadError, never a validation error of ours.
 */
export function finalize(data: BuildEventData, deliveryId: string | null): BuildEvent {
  try {
    return parseBuildEvent(toBuildEvent(withWebUrls(data), deliveryId));
  } catch (error) {
    if (error instanceof EventValidationError) throw new PayloadError(error.message);
    throw error;
  }
}
