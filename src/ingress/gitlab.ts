import type { Secrets } from "../config/schema.ts";
import { normalizeGitlab } from "../normalize/gitlab.ts";
import { PayloadError } from "../normalize/errors.ts";
import { decodeUtf8, mediaType, parseJson, requireObject } from "./body.ts";
import { HttpError } from "./http-error.ts";
import type { Received, WebhookRequest } from "./received.ts";
import { verifyGitlabToken } from "./verify.ts";

/** The checks of POST /webhooks/gitlab that need no body (see HeaderCheck). */
export function checkGitlabHeaders(
  header: WebhookRequest["header"],
  secrets: Pick<Secrets, "gitlabWebhookTokens">,
): void {
  // GitHub's hook pasted with this URL fails the checks below: say which endpoint it wants
  // (read only on the way to a refusal: a webhook that passes pays nothing for it)
  const elsewhere = (): string =>
    header("x-github-event")
      ? "; this looks like a GitHub webhook (it has X-GitHub-Event): send it to /webhooks/github"
      : "";
  const type = mediaType(header("content-type"));
  if (type !== "application/json") {
    throw new HttpError(
      415,
      "unsupported_media_type",
      `content type must be application/json (got "${type || "none"}")${elsewhere()}`,
    );
  }
  if (secrets.gitlabWebhookTokens.length === 0) {
    throw new HttpError(
      401,
      "not_configured",
      `GitLab webhooks are not accepted: GITLAB_WEBHOOK_TOKEN is not set on the gateway${elsewhere()}`,
    );
  }
  const token = header("x-gitlab-token");
  if (!token) {
    // GitLab sends the token only when the webhook has one: the field is optional there
    const fix =
      elsewhere() || ": give the webhook a secret token in GitLab, the value of GITLAB_WEBHOOK_TOKEN";
    throw new HttpError(401, "missing_token", `the X-Gitlab-Token header is missing${fix}`);
  }
  if (!verifyGitlabToken(secrets.gitlabWebhookTokens, token)) {
    throw new HttpError(
      401,
      "invalid_token",
      "X-Gitlab-Token does not match any configured token: the webhook's secret token in GitLab must be " +
        "GITLAB_WEBHOOK_TOKEN (or one of its comma-separated values)",
    );
  }
  if (!header("x-gitlab-event")) {
    throw new HttpError(400, "missing_event", "the X-Gitlab-Event header is missing");
  }
}

/** POST /webhooks/gitlab, without express: headers and token first, then body, then the pure normalizer. */
export function receiveGitlab(
  request: WebhookRequest,
  secrets: Pick<Secrets, "gitlabWebhookTokens">,
  /** the route already ran checkGitlabHeaders before reading the body */
  options: { readonly headersChecked?: boolean } = {},
): Received {
  if (!options.headersChecked) checkGitlabHeaders((name) => request.header(name), secrets);
  const event = request.header("x-gitlab-event") ?? "";
  // GitLab 15+ sends a UUID per delivery; the Idempotency-Key header is newer still
  const deliveryId =
    request.header("x-gitlab-event-uuid") ??
    request.header("x-gitlab-webhook-uuid") ??
    request.header("idempotency-key") ??
    null;

  const payload = requireObject(parseJson(decodeUtf8(request.rawBody)));
  try {
    const result = normalizeGitlab({ event, deliveryId, payload });
    if (!result.handled) return { outcome: "ignored", provider: "gitlab", event, reason: result.reason };
    return { outcome: "events", provider: "gitlab", event, deliveryId, events: result.events };
  } catch (error) {
    if (error instanceof PayloadError) throw new HttpError(400, "invalid_payload", error.message);
    throw error;
  }
}
