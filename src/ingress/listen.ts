import { createServer, type RequestListener, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WEBHOOK_ANSWER_HEADERS } from "./app.ts";

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** the whole request, headers and body, must arrive within this many ms */
  readonly requestTimeout: number;
}

/**
 * Bytes of a request body Node holds before it stops reading the connection. A webhook's
 * headers and body usually arrive in one socket read (up to 64 KB), before the route has
 * attached its body listener (it does after the rate limit): with Node's 16 KB default, a
 * 20 KB body stopped the connection's reads and the route's read restarted them, two
 * epoll_ctl calls per webhook, about half of the gateway's syscalls per webhook at load.
 * One socket read's worth holds nothing the read did not already put in memory. (Node sets
 * the answers' write buffer from it too; the live feed bounds its unsent bytes itself.)
 */
const REQUEST_HIGH_WATER_MARK = 64 * 1024;

/**
 * An HTTP server whose request timeout is actually enforced. Node checks requestTimeout and
 * headersTimeout only every `connectionsCheckingInterval` (30 s by default, settable only
 * when the server is created), so setting `server.requestTimeout` after `app.listen()` lets a
 * client that sends half a request and stalls (slowloris) hold the socket for 30 s or more.
 */
export async function listenHttp(app: RequestListener, options: ListenOptions): Promise<Server> {
  const server = createServer(
    {
      requestTimeout: options.requestTimeout,
      headersTimeout: Math.min(options.requestTimeout, 60_000),
      connectionsCheckingInterval: Math.max(250, Math.min(options.requestTimeout / 4, 5000)),
      highWaterMark: REQUEST_HIGH_WATER_MARK,
    },
    app,
  );
  server.keepAliveTimeout = 5000;
  server.on("clientError", answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

interface ClientErrorAnswer {
  readonly status: number;
  readonly reason: string;
  readonly error: string;
  readonly message: string;
}

/** Node's answers to a request it could not parse, by its error code; anything else is a 400. */
const CLIENT_ERRORS: Readonly<Record<string, ClientErrorAnswer>> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: "Request Header Fields Too Large",
    error: "headers_too_large",
    message: "the request headers are over 16 KB",
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    reason: "Payload Too Large",
    error: "payload_too_large",
    message: "the chunk extensions of the body are too large",
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: "Request Timeout",
    error: "request_timeout",
    message: "the whole request did not arrive within server.requestTimeout",
  },
};
const MALFORMED: ClientErrorAnswer = {
  status: 400,
  reason: "Bad Request",
  error: "bad_request",
  message: "the request is not valid HTTP/1.1",
};

/** The webhook answers' security headers, as header lines. */
const SECURITY_HEADER_LINES = Object.entries(WEBHOOK_ANSWER_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join("");

/**
 * A request Node cannot parse (headers over 16 KB, a malformed request line, one cut off by
 * requestTimeout) is answered as every other refusal of the gateway is: JSON naming what is
 * wrong, with the security headers of a webhook answer (it comes before any route, and every
 * answer carries security headers). Node's own answer has no body at all.
 * As Node does, nothing is written once a response on the connection has begun.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // the response being written on this keep-alive connection, if any (Node's own check)
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (error.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const answer = CLIENT_ERRORS[error.code ?? ""] ?? MALFORMED;
  const body = JSON.stringify({ error: answer.error, message: answer.message });
  socket.end(
    `HTTP/1.1 ${answer.status} ${answer.reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${SECURITY_HEADER_LINES}Connection: close\r\n\r\n${body}`,
  );
}
