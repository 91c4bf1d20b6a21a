export type Provider = "github" | "gitlab";

export interface WebhookGuess {
  readonly provider: Provider | null;
  readonly event: string | null;
}

const GITLAB_EVENTS: Readonly<Record<string, string>> = {
  pipeline: "Pipeline Hook",
  build: "Job Hook",
  deployment: "Deployment Hook",
  push: "Push Hook",
  tag_push: "Tag Push Hook",
  merge_request: "Merge Request Hook",
};

/**
 * GitHub names its events by the top-level object the payload carries. deployment_status
 * first: a deployment made by GitHub Actions also carries the workflow_run and check_run
 * that made it.
 */
const GITHUB_KEYS = [
  "deployment_status",
  "workflow_run",
  "workflow_job",
  "check_run",
  "check_suite",
] as const;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Provider and event header a fixture was most likely sent with; null where it cannot tell. */
export function inferWebhook(payload: unknown): WebhookGuess {
  if (!isObject(payload)) return { provider: null, event: null };
  const kind = payload.object_kind;
  if (typeof kind === "string") return { provider: "gitlab", event: GITLAB_EVENTS[kind] ?? null };
  // the deployment_status check comes before a bare "deployment" key, which both carry
  const githubKey = GITHUB_KEYS.find((key) => isObject(payload[key]));
  if (githubKey) return { provider: "github", event: githubKey };
  if (typeof payload.zen === "string" && "hook_id" in payload) return { provider: "github", event: "ping" };
  if (typeof payload.sha === "string" && typeof payload.state === "string" && "context" in payload) {
    return { provider: "github", event: "status" };
  }
  if (isObject(payload.repository) && "ref" in payload && "pusher" in payload) {
    return { provider: "github", event: "push" };
  }
  return { provider: null, event: null };
}
