import { createServer, type RequestListener, type Server } from "node:http";

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** the whole request, headers and body, must arrive within this many ms */
  readonly requestTimeout: number;
}

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
    },
    app,
  );
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
