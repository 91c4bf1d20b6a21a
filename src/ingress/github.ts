import type { Secrets } from "../config/schema.ts";
import { normalizeGithub } from "../normalize/github.ts";
import { PayloadError } from "../normalize/errors.ts";
import { decodeUtf8, mediaType, parseJson, requireObject } from "./body.ts";
import { HttpError } from "./http-error.ts";
import type { Received, WebhookRequest } from "./received.ts";
import { isGithubSignature, verifyGithubSignature } from "./verify.ts";

/** The checks of POST /webhooks/github that need no body (see HeaderCheck). */
export function checkGithubHeaders(
  header: WebhookRequest["header"],
  secrets: Pick<Secrets, "githubWebhookSecrets">,
): void {
  // GitLab's hook pasted with this URL fails the checks below: say which endpoint it wants
  // (read only on the way to a refusal: a webhook that passes pays nothing for it)
  const elsewhere = (): string =>
    header("x-gitlab-event")
      ? "; this looks like a GitLab webhook (it has X-Gitlab-Event): send it to /webhooks/gitlab"
      : "";
  const type = mediaType(header("content-type"));
  if (type !== "application/json" && type !== "application/x-www-form-urlencoded") {
    throw new HttpError(
      415,
      "unsupported_media_type",
      `content type must be application/json or application/x-www-form-urlencoded (got "${type || "none"}")${elsewhere()}`,
    );
  }
  if (secrets.githubWebhookSecrets.length === 0) {
    throw new HttpError(
      401,
      "not_configured",
      `GitHub webhooks are not accepted: GITHUB_WEBHOOK_SECRET is not set on the gateway${elsewhere()}`,
    );
  }
  const signature = header("x-hub-signature-256");
  if (!signature) {
    // GitHub signs only when the webhook has a secret: the field is optional there
    const fix =
      elsewhere() ||
      (header("x-hub-signature")
        ? ": only the SHA-1 X-Hub-Signature came, and buildcast verifies the SHA-256 one"
        : ": give the webhook a secret at GitHub, the value of GITHUB_WEBHOOK_SECRET");
    throw new HttpError(401, "missing_signature", `the X-Hub-Signature-256 header is missing${fix}`);
  }
  if (!isGithubSignature(signature)) {
    throw new HttpError(401, "invalid_signature", "X-Hub-Signature-256 is not sha256= and 64 hex digits");
  }
  if (!header("x-github-event")) {
    throw new HttpError(400, "missing_event", "the X-GitHub-Event header is missing");
  }
}

/**
 * POST /webhooks/github, without express: headers, then the signature on the raw bytes, then
 * the body, then the pure normalizer. Throws HttpError with the status to answer.
 */
export async function receiveGithub(
  request: WebhookRequest,
  secrets: Pick<Secrets, "githubWebhookSecrets">,
  /** the route already ran checkGithubHeaders before reading the body */
  options: { readonly headersChecked?: boolean } = {},
): Promise<Received> {
  if (!options.headersChecked) checkGithubHeaders((name) => request.header(name), secrets);
  const type = mediaType(request.header("content-type"));
  const signature = request.header("x-hub-signature-256") ?? "";
  const event = request.header("x-github-event") ?? "";
  // an empty body cannot be signed (GitHub never sends one); say so instead of "bad signature"
  if (request.rawBody.length === 0) throw new HttpError(400, "empty_body", "the request body is empty");
  if (!verifyGithubSignature(secrets.githubWebhookSecrets, request.rawBody, signature)) {
    throw new HttpError(
      401,
      "invalid_signature",
      "X-Hub-Signature-256 does not match the body for any configured secret: the webhook's secret at " +
        "GitHub must be GITHUB_WEBHOOK_SECRET (or one of its comma-separated values), and the body must arrive unchanged",
    );
  }
  const deliveryId = request.header("x-github-delivery") ?? null;

  const text = decodeUtf8(request.rawBody);
  const payload = requireObject(parseJson(type === "application/json" ? text : formPayload(text)));
  if (event === "ping") return { outcome: "ping", provider: "github", event };
  try {
    const result = normalizeGithub({ event, deliveryId, payload });
    if (!result.handled) return { outcome: "ignored", provider: "github", event, reason: result.reason };
    return { outcome: "events", provider: "github", event, deliveryId, events: result.events };
  } catch (error) {
    if (error instanceof PayloadError) {
      // the normalizer names a field; the sender also needs to know which event it was read as
      throw new HttpError(
        400,
        "invalid_payload",
        `the body is not the "${event}" event that X-GitHub-Event claims: ${error.message}`,
      );
    }
    throw error;
  }
}

/** GitHub's form content type sends the JSON as the `payload` field. */
function formPayload(text: string): string {
  const payload = new URLSearchParams(text).get("payload");
  if (payload === null)
    throw new HttpError(400, "invalid_payload", "form-encoded webhook without a payload field");
  return payload;
}
