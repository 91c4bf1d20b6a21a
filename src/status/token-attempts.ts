import { createHash } from "node:crypto";
import { ipKeyGenerator } from "express-rate-limit";

export interface TokenAttemptLimit {
  readonly window: number;
  readonly max: number;
  /** told once when an address reaches the limit: the client key and seconds until it may try again */
  readonly onLocked?: (client: string, seconds: number) => void;
}

export interface TokenAttempts {
  /** Seconds until this address may offer a token again; null when it may now. */
  refusedFor(address: string | undefined): number | null;
  /** Counts a wrong token (header, query, form or cookie) offered from this address. */
  failed(address: string | undefined, offered: string): void;
}

interface Client {
  readonly resetAt: number;
  /** digests of the different wrong tokens offered in this window */
  readonly wrong: Set<string>;
}

/**
 * Different wrong API tokens per client address in a fixed window, the address keyed as the
 * webhook rate limit keys it (express-rate-limit's ipKeyGenerator: one IPv6 /56 is one
 * client). Only different tokens count: a guesser offers a new one each time, while a README
 * badge with an outdated ?token= (fetched by an image proxy for every reader) or a browser
 * with a cookie from before a token change repeats one. Past `max` the address is refused
 * whatever it offers, a right token too, until the window ends: were a right token still let
 * in, guessing would go on at full speed and only the answers change.
 */
export function createTokenAttempts({ window, max, onLocked }: TokenAttemptLimit): TokenAttempts {
  const clients = new Map<string, Client>();
  // a connection already gone has no address; those share one key rather than none
  const key = (address: string | undefined): string => ipKeyGenerator(address ?? "unknown");
  const current = (address: string | undefined, now: number): Client | undefined => {
    const client = clients.get(key(address));
    return client !== undefined && client.resetAt > now ? client : undefined;
  };
  // forget the windows that ended, so addresses that stopped trying hold no memory
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, client] of clients) if (client.resetAt <= now) clients.delete(k);
  }, window);
  sweep.unref();
  return {
    refusedFor(address) {
      const now = Date.now();
      const client = current(address, now);
      const refused = client !== undefined && client.wrong.size >= max;
      return refused ? Math.max(1, Math.ceil((client.resetAt - now) / 1000)) : null;
    },
    failed(address, offered) {
      const now = Date.now();
      let client = current(address, now);
      if (client === undefined) {
        client = { resetAt: now + window, wrong: new Set() };
        clients.set(key(address), client);
      }
      if (client.wrong.size < max) {
        client.wrong.add(createHash("sha256").update(offered, "utf8").digest("base64url").slice(0, 16));
        if (client.wrong.size === max) onLocked?.(key(address), Math.ceil((client.resetAt - now) / 1000));
      }
    },
  };
}
