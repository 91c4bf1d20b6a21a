import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import express from "express";
import type { BuildEvent } from "../../src/events/schema.ts";
import { applyEvent } from "../../src/status/merge.ts";
import type { RunState } from "../../src/status/model.ts";
import { createStatusRouter } from "../../src/status/router.ts";
import { createTokenAttempts } from "../../src/status/token-attempts.ts";
import { createSseHub } from "../../src/status/sse.ts";
import { mergeBranch, summarize } from "../../src/status/summary.ts";
import { EMPTY_VIEW as emptyView, type StatusView } from "../../src/status/view.ts";
import { buildEvent } from "../helpers/events.ts";
import { memoryView, serveView } from "../helpers/dashboard.ts";

describe("run detail when the status store does not answer", () => {
  it("is a 503 with Retry-After, not a 500", async () => {
    const app = express();
    app.use(
      createStatusRouter({
        view: emptyView,
        sse: createSseHub(emptyView, { heartbeatMs: 60_000 }),
        apiToken: null,
        ready: () => true,
        // what a KV read gives while NATS is away
        locateRun: () => Promise.reject(new Error("TIMEOUT")),
      }),
    );
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await fetch(`http://127.0.0.1:${port}/api/v1/runs/gitlab/53479`);
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get("retry-after"), "5");
      assert.deepEqual(await answer.json(), {
        error: "unavailable",
        message: "the status store did not answer; retry shortly",
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

const TOKEN = "router-api-token-0123456789";
const DAY_MS = 86_400_000;

/** The status router alone on a free port, with the API token set and a clock the test moves. */
async function startRouter(
  clock: { now: number },
  authRateLimit?: { window: number; max: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.use(
    createStatusRouter({
      view: emptyView,
      sse: createSseHub(emptyView, { heartbeatMs: 60_000 }),
      apiToken: TOKEN,
      ...(authRateLimit ? { authRateLimit } : {}),
      now: () => clock.now,
      ready: () => true,
      locateRun: () => Promise.resolve(null),
    }),
  );
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe("the dashboard's session cookie", () => {
  it("stops opening the dashboard 30 days after sign-in, whoever kept it", async () => {
    const clock = { now: Date.UTC(2026, 11, 2) };
    const router = await startRouter(clock);
    try {
      const signedIn = await fetch(`${router.url}/`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: TOKEN }).toString(),
        redirect: "manual",
      });
      assert.equal(signedIn.status, 303);
      const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
      assert.ok(cookie.startsWith("buildcast_token=") && !cookie.includes(TOKEN), cookie);
      const open = (path: string) => fetch(`${router.url}${path}`, { headers: { cookie } });

      clock.now += 29 * DAY_MS;
      assert.equal((await open("/")).status, 200);
      assert.equal((await open("/api/v1/events?since=x")).status, 400, "the feed takes the cookie too");

      // a cookie copied out of a browser (a shared machine, a HAR file) is worth no more than Max-Age
      clock.now += 2 * DAY_MS;
      assert.equal((await open("/")).status, 401);
      assert.equal((await open("/api/v1/runs?repository=acme/api")).status, 401);
    } finally {
      await router.close();
    }
  });

  it("is refused when its time is changed or its signature is not the token's", async () => {
    const clock = { now: Date.UTC(2026, 11, 2) };
    const router = await startRouter(clock);
    try {
      const signedIn = await fetch(`${router.url}/?token=${TOKEN}`, { redirect: "manual" });
      const value = /buildcast_token=([^;]+)/.exec(signedIn.headers.get("set-cookie") ?? "")?.[1] ?? "";
      const [issued, mac] = value.split(".");
      assert.ok(issued && mac, value);
      const open = (cookieValue: string) =>
        fetch(`${router.url}/`, { headers: { cookie: `buildcast_token=${cookieValue}` } });
      assert.equal((await open(value)).status, 200);
      // moved forward to outlive its 30 days, or signed by another token: both refused
      assert.equal((await open(`${Number(issued) + 20 * 86_400}.${mac}`)).status, 401);
      assert.equal((await open(`${issued}.${"A".repeat(43)}`)).status, 401);
      assert.equal((await open("forged")).status, 401);
    } finally {
      await router.close();
    }
  });
});

describe("guessing the API token", () => {
  it("is refused, 429 with Retry-After, past the wrong tokens an address may offer in a window", async () => {
    const router = await startRouter({ now: Date.now() }, { window: 600_000, max: 5 });
    const form = (token: string) =>
      fetch(`${router.url}/?state=failing`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }).toString(),
        redirect: "manual",
      });
    const bearer = (token: string) =>
      fetch(`${router.url}/api/v1/runs?repository=acme/api`, {
        headers: { authorization: `Bearer ${token}` },
      });
    try {
      // opening the page without any token is no guess, nor is a cookie of the format before
      // sessions had a time (every browser signed in before an upgrade sends one): never counted
      for (let i = 0; i < 10; i++) {
        assert.equal((await fetch(`${router.url}/`)).status, 401);
        const old = { cookie: "buildcast_token=KxvHpR0YFw06OOcRCVY2AOZOIP2UPLXhwAGE97L8ykk" };
        assert.equal((await fetch(`${router.url}/`, { headers: old })).status, 401);
      }
      // nor does one outdated token, however often: a README badge an image proxy fetches for
      // every reader, or every tab of a browser signed in before the token changed
      const outdated = `${router.url}/badge.svg?repository=a/b&branch=main&token=last-years-token`;
      for (let i = 0; i < 20; i++) assert.equal((await fetch(outdated)).status, 401);
      // five different guesses by every way a token is offered, each answered as usual
      // (the outdated token above was the first of them)
      assert.equal((await form("guess-1")).status, 401);
      assert.equal((await bearer("guess-2")).status, 401);
      assert.equal(
        (await fetch(`${router.url}/badge.svg?repository=a/b&branch=main&token=guess-3`)).status,
        401,
      );
      assert.equal(
        (
          await fetch(`${router.url}/`, {
            headers: { cookie: `buildcast_token=${Math.floor(Date.now() / 1000)}.${"A".repeat(43)}` },
          })
        ).status,
        401,
      );

      // then every offer is refused, the right token too: guessing must not go on behind the 429s
      const api = await bearer(TOKEN);
      assert.equal(api.status, 429);
      assert.ok(Number(api.headers.get("retry-after")) > 0, "Retry-After says when to try again");
      assert.equal(((await api.json()) as { error: string }).error, "too_many_attempts");
      const page = await form(TOKEN);
      assert.equal(page.status, 429);
      assert.equal(page.headers.get("set-cookie"), null);
      assert.match(await page.text(), /<form[^>]*action="\/\?state=failing"[\s\S]*Too many wrong tokens/);
      assert.equal((await fetch(`${router.url}/api/v1/events?token=${TOKEN}`)).status, 429);
    } finally {
      await router.close();
    }
  });
});

describe("signing out of the dashboard", () => {
  it("drops the session cookie for the path it was set on, and only from the dashboard's own pages", async () => {
    const clock = { now: Date.UTC(2026, 11, 2) };
    const router = await startRouter(clock);
    try {
      const signedIn = await fetch(`${router.url}/?token=${TOKEN}`, { redirect: "manual" });
      const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
      const page = await (await fetch(`${router.url}/`, { headers: { cookie } })).text();
      assert.match(
        page,
        /<form method="post" action="\/signout" class="signout"><button type="submit">Sign out<\/button><\/form>/,
      );

      const crossSite = await fetch(`${router.url}/signout`, {
        method: "POST",
        headers: { cookie, "sec-fetch-site": "cross-site" },
        redirect: "manual",
      });
      assert.equal(crossSite.status, 403);
      assert.equal(crossSite.headers.get("set-cookie"), null);
      // a sibling subdomain is another site, and so is another Origin from a browser without Sec-Fetch-Site
      const refused = async (headers: Record<string, string>) =>
        (
          await fetch(`${router.url}/signout`, {
            method: "POST",
            headers: { cookie, ...headers },
            redirect: "manual",
          })
        ).status;
      assert.equal(await refused({ "sec-fetch-site": "same-site" }), 403);
      assert.equal(await refused({ origin: "https://evil.example" }), 403);
      assert.equal(await refused({ origin: router.url }), 303);

      const out = await fetch(`${router.url}/signout`, {
        method: "POST",
        headers: { cookie, "sec-fetch-site": "same-origin" },
        redirect: "manual",
      });
      assert.equal(out.status, 303);
      assert.equal(out.headers.get("location"), "/");
      const cleared = out.headers.get("set-cookie") ?? "";
      assert.match(cleared, /^buildcast_token=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax$/);
    } finally {
      await router.close();
    }
  });
});

describe("links in API answers", () => {
  it("are web links only, also from records and events of a release that kept any link", async () => {
    // what the status store wrote from an event published before ingress dropped such links:
    // an older replica during a rolling upgrade, an event already in the stream, a replay
    const failing = buildEvent({
      status: "failure",
      job: { id: "77", name: "unit", url: "javascript:alert(1)" },
    });
    const finished = buildEvent({ status: "failure" });
    const raw = (event: BuildEvent): BuildEvent => ({
      ...event,
      data: {
        ...event.data,
        repository: { ...event.data.repository, url: "javascript:alert(2)" },
        run: { ...event.data.run, url: "javascript:alert(3)" },
        commit: { ...event.data.commit, url: "data:text/html,<script>alert(4)</script>" },
      },
    });
    const run = [raw(failing), raw(finished)].reduce<RunState | null>((s, e) => applyEvent(s, e), null);
    assert.ok(run);
    const branch = mergeBranch(null, run, summarize(run, 7), "main", 50);
    assert.ok(branch);
    const view: StatusView = { ...emptyView, states: () => [branch], forRepository: () => [branch] };
    const app = express();
    app.use(
      createStatusRouter({
        view,
        sse: createSseHub(view, { heartbeatMs: 60_000 }),
        apiToken: null,
        ready: () => true,
        locateRun: () => Promise.resolve({ run, revision: 7 }),
      }),
    );
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    try {
      const { port } = server.address() as AddressInfo;
      for (const path of [
        "/api/v1/status?repository=acme/api&branch=main",
        "/api/v1/runs?repository=acme/api",
        "/api/v1/runs/github/1001",
      ]) {
        const answer = await fetch(`http://127.0.0.1:${port}${path}`);
        assert.equal(answer.status, 200, path);
        const body = await answer.text();
        assert.doesNotMatch(body, /javascript:|data:text/, path);
        assert.match(body, /"url":null/, path);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("an address that reaches the wrong-token limit", () => {
  it("is told once, with its client key and the seconds it waits, so an operator can find it", () => {
    const locked: [string, number][] = [];
    const attempts = createTokenAttempts({
      window: 60_000,
      max: 3,
      onLocked: (client, seconds) => locked.push([client, seconds]),
    });
    attempts.failed("192.0.2.7", "guess-1");
    attempts.failed("192.0.2.7", "guess-1");
    attempts.failed("192.0.2.7", "guess-2");
    assert.deepEqual(locked, [], "two different wrong tokens are under the limit");
    attempts.failed("192.0.2.7", "guess-3");
    attempts.failed("192.0.2.7", "guess-4");
    assert.deepEqual(locked, [["192.0.2.7", 60]]);
    assert.equal(attempts.refusedFor("192.0.2.7"), 60);
  });
});

/** A GET over node:http, so the bytes on the wire are counted as sent, not as fetch inflates them. */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("large answers", () => {
  it("are compressed for clients that take gzip or brotli; the live feed never is", async () => {
    const { view, set } = memoryView("acme/large");
    for (let i = 0; i < 300; i++) set(`feature/branch-${i}`, String(1000 + i), i % 7 ? "success" : "failure");
    const server = await serveView(view);
    try {
      const paths = ["/", "/api/v1/runs?repository=acme/large&limit=100", "/dashboard.js"];
      for (const path of paths) {
        const plain = await rawGet(`${server.url}${path}`, {});
        assert.equal(
          plain.headers["content-encoding"],
          undefined,
          `${path} as sent to a client that asks for none`,
        );
        assert.match(
          String(plain.headers.vary),
          /accept-encoding/i,
          `${path}: caches keep the encodings apart`,
        );

        const gz = await rawGet(`${server.url}${path}`, { "accept-encoding": "gzip" });
        assert.equal(gz.headers["content-encoding"], "gzip", path);
        assert.match(String(gz.headers.vary), /accept-encoding/i);
        assert.deepEqual(gunzipSync(gz.body), plain.body, `${path}: the same answer`);
        assert.ok(
          gz.body.length * 2 < plain.body.length,
          `${path}: ${plain.body.length} → ${gz.body.length} bytes`,
        );

        const br = await rawGet(`${server.url}${path}`, { "accept-encoding": "br" });
        assert.equal(br.headers["content-encoding"], "br", path);
        assert.deepEqual(brotliDecompressSync(br.body), plain.body, `${path}: the same answer`);
      }
      const runs = await rawGet(`${server.url}/api/v1/runs?repository=acme/large&limit=100`, {
        "accept-encoding": "gzip",
      });
      const notModified = await rawGet(`${server.url}/api/v1/runs?repository=acme/large&limit=100`, {
        "accept-encoding": "gzip",
        "if-none-match": String(runs.headers.etag),
      });
      // a poller's conditional request still costs nothing
      assert.equal(notModified.body.length, 0, "304: no body");

      // the feed's events must arrive as written: never compressed
      const controller = new AbortController();
      const feed = await fetch(`${server.url}/api/v1/events`, {
        headers: { "accept-encoding": "gzip, br" },
        signal: controller.signal,
      });
      assert.equal(feed.headers.get("content-encoding"), null);
      controller.abort();
      await feed.body?.cancel().catch(() => undefined);
    } finally {
      await server.close();
    }
  });
});

describe("caching of answers behind the API token", () => {
  it("keeps shared caches from storing them, and browsers from storing a refusal", async () => {
    const { view, set } = memoryView("acme/private");
    set("main", "1", "failure");
    const server = await serveView(view, { apiToken: TOKEN });
    const open = await serveView(view);
    try {
      const auth = { authorization: `Bearer ${TOKEN}` };
      for (const [path, headers] of [
        ["/api/v1/status?repository=acme/private&branch=main", auth],
        ["/api/v1/runs?repository=acme/private", auth],
        ["/api/v1/runs?repository=acme/nope", auth],
        ["/api/v1/runs?repository=acme/private&limit=0", auth],
        [`/badge.svg?repository=acme/private&branch=main&token=${TOKEN}`, {}],
      ] as const) {
        const answer = await fetch(`${server.url}${path}`, { headers });
        // must-revalidate alone lets a shared cache store an answer to a request with
        // Authorization (RFC 9111, 3.5); private keeps a team's build data in the browser
        assert.match(answer.headers.get("cache-control") ?? "", /\bprivate\b/, `${path}: ${answer.status}`);
        assert.match(answer.headers.get("cache-control") ?? "", /\bno-cache\b/, path);
      }
      for (const headers of [{}, { authorization: "Bearer wrong-token" }]) {
        const refused = await fetch(`${server.url}/api/v1/runs?repository=acme/private`, { headers });
        assert.equal(refused.status, 401);
        assert.equal(refused.headers.get("cache-control"), "no-store", "a refusal is never kept");
      }

      // without a token the answers are public, as badges usually are
      const badge = await fetch(`${open.url}/badge.svg?repository=acme/private&branch=main`);
      assert.equal(badge.headers.get("cache-control"), "no-cache, max-age=0, must-revalidate");
    } finally {
      await server.close();
      await open.close();
    }
  });
});

describe("a query that is not UTF-8", () => {
  it("is a 400 naming the parameter, not a search for a name with U+FFFD in it", async () => {
    const { view, set } = memoryView("acme/café");
    set("main", "1", "success");
    const server = await serveView(view);
    try {
      // café in Latin-1, as a legacy script's encoder sends it
      for (const path of [
        "/api/v1/runs?repository=acme%2Fcaf%E9",
        "/api/v1/status?repository=acme%2Fcaf%C3%A9&branch=ma%E0%A4%A",
        "/badge.svg?repository=acme%2Fcaf%C3%A9&branch=main&label=%FF",
      ]) {
        const answer = await fetch(`${server.url}${path}`);
        assert.equal(answer.status, 400, path);
        const body = (await answer.json()) as { error: string; parameter: string; message: string };
        assert.equal(body.error, "bad_request", path);
        assert.match(body.message, /UTF-8/, path);
        assert.ok(["repository", "branch", "label"].includes(body.parameter), path);
      }
      // the same name, well encoded, is found
      const found = await fetch(`${server.url}/api/v1/runs?repository=acme%2Fcaf%C3%A9`);
      assert.equal(found.status, 200);
      // a % that starts no escape is itself, as express's parser takes it
      const percent = await fetch(`${server.url}/api/v1/status?repository=acme%2Fcaf%C3%A9&branch=50%-off`);
      assert.equal(percent.status, 404);
    } finally {
      await server.close();
    }
  });
});

describe("a method the API does not take", () => {
  it("is a 405 naming the methods it takes, not a 404 for a path that exists", async () => {
    const { view, set } = memoryView("acme/methods");
    set("main", "1", "success");
    const server = await serveView(view);
    try {
      for (const path of [
        "/api/v1/status?repository=acme/methods&branch=main",
        "/api/v1/runs?repository=acme/methods",
        "/api/v1/runs/github/1",
        "/api/v1/events",
        "/badge.svg?repository=acme/methods&branch=main",
      ]) {
        for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
          const answer = await fetch(`${server.url}${path}`, { method });
          assert.equal(answer.status, 405, `${method} ${path}`);
          assert.equal(answer.headers.get("allow"), "GET, HEAD", `${method} ${path}`);
          assert.deepEqual(await answer.json(), {
            error: "method_not_allowed",
            message: `${method} is not allowed here; the status API is read with GET`,
          });
        }
        const options = await fetch(`${server.url}${path}`, { method: "OPTIONS" });
        assert.ok(options.status < 300, `OPTIONS ${path}: ${options.status}`);
        assert.equal(options.headers.get("allow"), "GET, HEAD", `OPTIONS ${path}`);
      }
    } finally {
      await server.close();
    }
  });
});

describe("a parameter the API does not know", () => {
  it("is a 400 naming it and what the endpoint takes, not an answer that ignored a typo", async () => {
    const { view, set } = memoryView("acme/typo");
    set("main", "1", "success");
    set("develop", "2", "failure");
    const server = await serveView(view);
    try {
      for (const [path, parameter, takes] of [
        [
          "/api/v1/runs?repository=acme/typo&brnch=main",
          "brnch",
          "repository, branch, pipeline, provider, limit",
        ],
        [
          "/api/v1/status?repository=acme/typo&branch=main&pipeline=CI",
          "pipeline",
          "repository, branch, provider",
        ],
        ["/api/v1/runs/github/1?verbose=1", "verbose", "no parameters"],
        ["/api/v1/events?sinse=4", "sinse", "since"],
      ] as const) {
        const answer = await fetch(`${server.url}${path}`);
        assert.equal(answer.status, 400, path);
        const body = (await answer.json()) as { error: string; parameter: string; message: string };
        assert.equal(body.parameter, parameter, path);
        assert.ok(body.message.includes(takes), `${path}: ${body.message}`);
      }
      // the token may come with any of them; a badge copied with shields.io's style= still shows
      assert.equal((await fetch(`${server.url}/api/v1/runs?repository=acme/typo&token=x`)).status, 200);
      const badge = await fetch(`${server.url}/badge.svg?repository=acme/typo&branch=main&style=flat`);
      assert.equal(badge.status, 200);
    } finally {
      await server.close();
    }
  });
});

describe("a run id in the path that is not UTF-8", () => {
  it("is a 400 naming runId, like any bad parameter", async () => {
    const { view } = memoryView("acme/path");
    const server = await serveView(view);
    try {
      const answer = await fetch(`${server.url}/api/v1/runs/github/caf%E9`);
      assert.equal(answer.status, 400);
      assert.match(answer.headers.get("cache-control") ?? "", /no-cache/);
      assert.deepEqual(await answer.json(), {
        error: "bad_request",
        parameter: "runId",
        message: "runId is not percent-encoded UTF-8",
      });
    } finally {
      await server.close();
    }
  });
});
