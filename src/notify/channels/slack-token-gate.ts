import type { Logger } from "../../observability/logger.ts";
import { tokenRefusalHint, type TokenCheck } from "./slack-token.ts";

/**
 * Whether Slack takes the bot token, as auth.test and the deliveries found. While it refuses
 * it, deliveries wait on the queue (the worker of this replica is paused) instead of each
 * becoming a dead letter, and auth.test asks again every `recheckMs` until Slack takes it.
 */
export interface TokenGate {
  /** The first check; the worker runs once it is done, unless Slack refused the token. */
  start(): Promise<void>;
  /** A delivery was answered with this refusal (TOKEN_REFUSALS). */
  refused(code: string): void;
  isRefused(): boolean;
  /** for the `slack` check of /readyz */
  describe(): string;
  stop(): void;
}

export interface TokenGateDeps {
  readonly check: () => Promise<TokenCheck>;
  readonly recheckMs: number;
  readonly log: Logger;
  /** the buildcast_slack_token_refused gauge */
  readonly setRefused: (refused: boolean) => void;
  /** stop taking deliveries on this replica */
  readonly pause: () => void;
  /** take deliveries (again) */
  readonly run: () => void;
}

type State =
  | { readonly kind: "checking" }
  | { readonly kind: "accepted" }
  | { readonly kind: "unknown"; readonly reason: string }
  | { readonly kind: "refused"; readonly code: string };

export function createTokenGate(deps: TokenGateDeps): TokenGate {
  const { log, recheckMs } = deps;
  const every = `${Math.round(recheckMs / 1000)} s`;
  let state: State = { kind: "checking" };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const refuse = (code: string): void => {
    const already = state.kind === "refused" ? state.code : null;
    state = { kind: "refused", code };
    deps.setRefused(true);
    deps.pause();
    // one line per refusal, not per notice: every delivery would log the same
    if (already !== code)
      log.error(
        { slackError: code },
        `Slack refuses the bot token (${code}): ${tokenRefusalHint(code)}. ` +
          `Slack notices wait and go out once Slack takes the token (checked every ${every})`,
      );
    scheduleRecheck();
  };

  const accept = (again: boolean): void => {
    state = { kind: "accepted" };
    deps.setRefused(false);
    if (again) log.info("Slack takes the bot token again; the waiting notices go out");
    deps.run();
  };

  /** a refused token, or one auth.test could not check at start, is asked about again */
  const asking = (): boolean => state.kind === "refused" || state.kind === "unknown";
  let lastUnknown: string | null = null;
  const recheck = async (): Promise<void> => {
    timer = undefined;
    if (stopped || !asking()) return;
    const answer = await deps.check();
    if (stopped || !asking()) return;
    if (answer.outcome === "accepted") {
      accept(state.kind === "refused");
      return;
    }
    if (answer.outcome === "refused") {
      refuse(answer.code);
      return;
    }
    // a network error or a 5xx says nothing about the token: a refused one stays refused until
    // Slack says otherwise, and one not checked yet keeps its notices going
    if (state.kind === "unknown") state = { kind: "unknown", reason: answer.reason };
    else if (answer.reason !== lastUnknown)
      log.warn(
        { err: answer.reason },
        "cannot check the Slack bot token again yet; Slack notices still wait",
      );
    lastUnknown = answer.reason;
    scheduleRecheck();
  };

  function scheduleRecheck(): void {
    if (stopped || timer !== undefined) return;
    timer = setTimeout(() => void recheck(), recheckMs);
    timer.unref();
  }

  return {
    async start() {
      const answer = await deps.check();
      if (stopped) return;
      // a delivery may have found the token refused meanwhile: that answer is the newer one
      if (state.kind !== "checking") return;
      if (answer.outcome === "refused") {
        refuse(answer.code);
        return;
      }
      if (answer.outcome === "accepted") {
        log.info({ team: answer.team, user: answer.user }, "Slack takes the bot token");
      } else {
        state = { kind: "unknown", reason: answer.reason };
        log.warn(
          { err: answer.reason },
          "cannot check the Slack bot token (auth.test); Slack notices start, and wait if Slack refuses it",
        );
      }
      if (answer.outcome === "accepted") {
        accept(false);
        return;
      }
      deps.run();
      scheduleRecheck();
    },
    refused: refuse,
    isRefused: () => state.kind === "refused",
    describe() {
      switch (state.kind) {
        case "checking":
          return "checking the bot token";
        case "accepted":
          return "token accepted";
        case "unknown":
          return `token not checked (${state.reason}); notices go out`;
        case "refused":
          return `token refused (${state.code}); notices wait, checked again every ${every}`;
      }
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
