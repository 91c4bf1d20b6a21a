import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface SlackCall {
  readonly method: string;
  readonly args: Record<string, unknown>;
  readonly token: string | null;
  readonly at: number;
  /** what the server answered: 200 with ok, or the scripted failure */
  readonly answered: number | string;
  /** the ts of the message a chat.postMessage it accepted posted */
  readonly ts?: string;
}

export type ScriptedFailure =
  | { readonly status: 429; readonly retryAfter: number }
  /**
   * a server error; with `carriedOut`, Slack did the call and only its answer failed (a
   * gateway between the client and Slack timed out, or Slack erred after posting)
   */
  | { readonly status: 500 | 502 | 503 | 504; readonly carriedOut?: boolean }
  /** {ok:false,error}; with `carriedOut`, after posting (Slack's fatal_error and internal_error may) */
  | { readonly error: string; readonly carriedOut?: boolean };

export interface SlackServer {
  /** base URL for WebClient's slackApiUrl (ends with /api/) */
  readonly apiUrl: string;
  readonly calls: SlackCall[];
  /** calls that Slack accepted */
  accepted(method?: string): SlackCall[];
  /** answers the next `times` calls (optionally only of one method) with a failure */
  failNext(failure: ScriptedFailure, times?: number, method?: string): void;
  /** answers every call for this channel with {ok:false,error} until cleared */
  failChannel(channel: string, error: string | null): void;
  /** answers every thread reply posted in this channel with {ok:false,error} until cleared */
  failThreadReplies(channel: string, error: string | null): void;
  /**
   * Carries out the next call of `method` (with `threadReply`, only a chat.postMessage into a
   * thread) at once but answers it only after `ms`: a slow Slack.
   */
  delayNext(method: string, ms: number, threadReply?: boolean): void;
  /**
   * Carries out the next call of `method` (with `threadReply`, only a chat.postMessage into a
   * thread) only after `ms`, and answers then: a Slack busy past the client's timeout, whose
   * post shows up in the channel after the client gave up on it.
   */
  slowNext(method: string, ms: number, threadReply?: boolean): void;
  /** answers the next accepted call of `method` with ok:true and this warning, as Slack does */
  warnNext(method: string, warning: string): void;
  /**
   * Refuses the bot token with this error (`invalid_auth`, `token_revoked`, `account_inactive`, …)
   * on every call, auth.test included, as Slack does; null accepts it again.
   */
  refuseToken(error: string | null): void;
  /** what conversations.info says of a channel (default: a public channel the bot is in) */
  setChannel(channel: string, info: { readonly member?: boolean; readonly private?: boolean }): void;
  /**
   * the token's scopes (default: every one): conversations.info answers missing_scope, with
   * `needed` and `provided`, without channels:read for a public channel or groups:read for a private one
   */
  setScopes(scopes: readonly string[] | null): void;
  /** deletes a posted message, as a person in the channel can: chat.update then finds nothing */
  deleteMessage(channel: string, ts: string): void;
  /**
   * `count` messages people post in the channel, as Slack got them at time `at` (ms since the
   * epoch; conversations.history's `oldest` and `latest` are held against it)
   */
  othersPost(channel: string, count: number, at: number): void;
  close(): Promise<void>;
}

/** Every text in a message's blocks, however deeply nested. */
function blockTexts(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(blockTexts);
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === "text" && typeof inner === "string" ? [inner] : blockTexts(inner),
  );
}

/**
 * Slack's checks on blocks: a section's text is at most 3,000 characters (invalid_blocks),
 * and all the text of a message's blocks together at most about 12,000
 * (msg_blocks_too_long; slackapi/bolt-js#2509).
 */
function blocksError(blocks: unknown): string | null {
  if (blocks === undefined) return null;
  const sectionTooLong =
    Array.isArray(blocks) &&
    blocks.some((block: { type?: unknown; text?: { text?: unknown } }) => {
      const text = block.text?.text;
      return block.type === "section" && typeof text === "string" && text.length > 3000;
    });
  if (sectionTooLong) return "invalid_blocks";
  const total = blockTexts(blocks).reduce((sum, text) => sum + text.length, 0);
  return total > 12_000 ? "msg_blocks_too_long" : null;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString("utf8");
  if ((req.headers["content-type"] ?? "").includes("application/json")) {
    return JSON.parse(raw) as Record<string, unknown>;
  }
  // WebClient posts form-encoded, with JSON-encoded arrays (blocks)
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    args[key] = /^[[{]/.test(value) ? (JSON.parse(value) as unknown) : value;
  }
  return args;
}

/**
 * A local HTTP server speaking enough of the Slack Web API: chat.postMessage, chat.update,
 * conversations.history and conversations.replies (with message metadata), auth.test and
 * conversations.info.
 */
export async function startSlackServer(): Promise<SlackServer> {
  const calls: SlackCall[] = [];
  const script: Array<{ failure: ScriptedFailure; method: string | undefined }> = [];
  const channelErrors = new Map<string, string>();
  const threadErrors = new Map<string, string>();
  let nextTs = 1_700_000_000;
  const posted: Array<{
    channel: string;
    ts: string;
    threadTs: string | undefined;
    at: number;
    text: unknown;
    metadata: unknown;
  }> = [];
  const delays: Array<{ method: string; ms: number; threadReply: boolean }> = [];
  const slow: Array<{ method: string; ms: number; threadReply: boolean }> = [];
  const warnings: Array<{ method: string; warning: string }> = [];
  let tokenRefusal: string | null = null;
  const channelInfo = new Map<string, { member?: boolean; private?: boolean }>();
  let scopes: readonly string[] | null = null;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const method = (req.url ?? "").replace(/^\/api\//, "").split("?")[0] ?? "";
      const args = await readBody(req);
      const auth = req.headers.authorization ?? null;
      const token = auth?.startsWith("Bearer ") ? auth.slice(7) : null;
      const channel = typeof args.channel === "string" ? args.channel : "";
      const slowIndex = slow.findIndex(
        (entry) => entry.method === method && (!entry.threadReply || args.thread_ts !== undefined),
      );
      if (slowIndex >= 0) {
        const ms = slow.splice(slowIndex, 1)[0]?.ms ?? 0;
        await new Promise((resolve) => setTimeout(resolve, ms));
      }
      const record = (answered: number | string, ts?: string) =>
        calls.push({ method, args, token, at: Date.now(), answered, ...(ts === undefined ? {} : { ts }) });
      const delayIndex = delays.findIndex(
        (entry) => entry.method === method && (!entry.threadReply || args.thread_ts !== undefined),
      );
      const delay = delayIndex >= 0 ? (delays.splice(delayIndex, 1)[0]?.ms ?? 0) : 0;
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        const answer = () => {
          if (res.destroyed) return;
          res.writeHead(status, { "content-type": "application/json", ...headers });
          res.end(JSON.stringify(body));
        };
        if (delay > 0) setTimeout(answer, delay);
        else answer();
      };

      const carryOutPost = () => {
        if (method !== "chat.postMessage") return;
        const threadTs = args.thread_ts === undefined ? undefined : (args.thread_ts as string);
        const ts = `${nextTs++}.000100`;
        posted.push({ channel, ts, threadTs, at: Date.now(), text: args.text, metadata: args.metadata });
      };
      const index = script.findIndex((entry) => entry.method === undefined || entry.method === method);
      const scripted = index >= 0 ? script.splice(index, 1)[0]?.failure : undefined;
      if (scripted && "status" in scripted) {
        record(scripted.status);
        if (scripted.status === 429) {
          json(429, { ok: false, error: "ratelimited" }, { "retry-after": String(scripted.retryAfter) });
          return;
        }
        if (scripted.carriedOut === true) carryOutPost();
        json(scripted.status, { ok: false, error: "internal_error" });
        return;
      }
      const error =
        scripted?.error ??
        tokenRefusal ??
        channelErrors.get(channel) ??
        (method === "chat.postMessage" && args.thread_ts !== undefined
          ? threadErrors.get(channel)
          : undefined) ??
        (method === "chat.postMessage" || method === "chat.update" ? blocksError(args.blocks) : null) ??
        undefined;
      if (error !== undefined) {
        if (scripted?.carriedOut === true) carryOutPost();
        record(error);
        json(200, { ok: false, error });
        return;
      }
      if (method === "auth.test") {
        // real Slack's answer for a bot token (api.slack.com/methods/auth.test)
        record(200);
        json(200, {
          ok: true,
          url: "https://buildcast-test.slack.com/",
          team: "buildcast test",
          user: "buildcast",
          team_id: "T0TEST0001",
          user_id: "U0BOT00001",
          bot_id: "B0BOT00001",
          is_enterprise_install: false,
        });
        return;
      }
      if (method === "conversations.info") {
        const info = channelInfo.get(channel) ?? {};
        const needed = info.private === true ? "groups:read" : "channels:read";
        if (scopes !== null && !scopes.includes(needed)) {
          record("missing_scope");
          json(200, { ok: false, error: "missing_scope", needed, provided: scopes.join(",") });
          return;
        }
        record(200);
        json(200, {
          ok: true,
          channel: {
            id: channel,
            name: channel.toLowerCase(),
            is_channel: info.private !== true,
            is_group: false,
            is_private: info.private === true,
            is_archived: false,
            is_member: info.member ?? true,
          },
        });
        return;
      }
      if (method === "conversations.history" || method === "conversations.replies") {
        // top-level messages of the channel (or the replies in one thread) between `oldest`
        // and `latest`, newest first, with their metadata, `limit` (default 100) a page
        record(200);
        const oldest = Number(args.oldest ?? 0);
        const latest = args.latest === undefined ? Infinity : Number(args.latest);
        const limit = Number(args.limit ?? 100);
        const offset = Number(args.cursor ?? 0);
        const thread = method === "conversations.replies" ? String(args.ts) : undefined;
        const messages = posted
          // this server's ts values are not clock times, so `oldest` is compared with arrival
          .filter(
            (message) =>
              message.channel === channel &&
              message.threadTs === thread &&
              message.at / 1000 > oldest &&
              message.at / 1000 <= latest,
          )
          .reverse()
          .sort((a, b) => b.at - a.at)
          .map((message) => ({
            type: "message",
            ts: message.ts,
            text: message.text,
            ...(String(args.include_all_metadata) === "true" && message.metadata
              ? { metadata: message.metadata }
              : {}),
          }));
        const page = messages.slice(offset, offset + limit);
        const more = offset + limit < messages.length;
        json(200, {
          ok: true,
          messages: page,
          has_more: more,
          ...(more ? { response_metadata: { next_cursor: String(offset + limit) } } : {}),
        });
        return;
      }
      if (method !== "chat.postMessage" && method !== "chat.update") {
        record("unknown_method");
        json(200, { ok: false, error: "unknown_method" });
        return;
      }
      if (
        method === "chat.update" &&
        !posted.some((message) => message.channel === channel && message.ts === String(args.ts))
      ) {
        record("message_not_found");
        json(200, { ok: false, error: "message_not_found" });
        return;
      }
      const ts = method === "chat.update" ? String(args.ts) : `${nextTs++}.000100`;
      record(200, method === "chat.postMessage" ? ts : undefined);
      if (method === "chat.postMessage") {
        const threadTs = args.thread_ts === undefined ? undefined : (args.thread_ts as string);
        posted.push({ channel, ts, threadTs, at: Date.now(), text: args.text, metadata: args.metadata });
      }
      const warned = warnings.findIndex((entry) => entry.method === method);
      const warning = warned >= 0 ? warnings.splice(warned, 1)[0]?.warning : undefined;
      json(200, {
        ok: true,
        channel,
        ts,
        message: { text: args.text },
        ...(warning === undefined ? {} : { warning, response_metadata: { warnings: [warning] } }),
      });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    accepted: (method) =>
      calls.filter((call) => call.answered === 200 && (!method || call.method === method)),
    failNext(failure, times = 1, method) {
      for (let i = 0; i < times; i++) script.push({ failure, method });
    },
    failChannel(channel, error) {
      if (error === null) channelErrors.delete(channel);
      else channelErrors.set(channel, error);
    },
    failThreadReplies(channel, error) {
      if (error === null) threadErrors.delete(channel);
      else threadErrors.set(channel, error);
    },
    delayNext(method, ms, threadReply = false) {
      delays.push({ method, ms, threadReply });
    },
    slowNext(method, ms, threadReply = false) {
      slow.push({ method, ms, threadReply });
    },
    warnNext(method, warning) {
      warnings.push({ method, warning });
    },
    refuseToken(error) {
      tokenRefusal = error;
    },
    setChannel(channel, info) {
      channelInfo.set(channel, info);
    },
    setScopes(list) {
      scopes = list;
    },
    othersPost(channel, count, at) {
      for (let i = 0; i < count; i++) {
        posted.push({
          channel,
          ts: `${nextTs++}.000100`,
          threadTs: undefined,
          at,
          text: "chatter",
          metadata: undefined,
        });
      }
    },
    deleteMessage(channel, ts) {
      const index = posted.findIndex((message) => message.channel === channel && message.ts === ts);
      if (index >= 0) posted.splice(index, 1);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
