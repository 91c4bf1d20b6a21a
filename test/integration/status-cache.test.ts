import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createLogger } from "../../src/observability/logger.ts";
import { compareAndSet } from "../../src/bus/kv-cas.ts";
import { clearOnReconnect, EntryCache } from "../../src/bus/kv-cache.ts";
import { branchStoreKey, runStoreKey } from "../../src/status/keys.ts";
import type { BranchState, RunState } from "../../src/status/model.ts";
import { applyEventsToStore } from "../../src/status/store.ts";
import { startView, type RunningView } from "../../src/status/view.ts";
import { buildEvent } from "../helpers/events.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

interface Counter {
  readonly kv: KV;
  /** reads (kv.get) made through `kv` */
  readonly gets: () => number;
}

/** The bucket as the code sees it, counting the reads it makes. */
function counting(kv: KV): Counter {
  let gets = 0;
  const proxy = new Proxy(kv, {
    get(target, property) {
      if (property === "get") {
        return (...args: Parameters<KV["get"]>) => {
          gets += 1;
          return target.get(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { kv: proxy, gets: () => gets };
}

type Letters = { readonly letters: readonly string[] };
const add =
  (letter: string) =>
  (current: Letters | null): Letters | null =>
    current?.letters.includes(letter) ? current : { letters: [...(current?.letters ?? []), letter] };

/** what a cache holds for a key, without its size */
function seen<T>(cache: EntryCache<T>, key: string): { revision: number; value: T } | undefined {
  const entry = cache.get(key);
  return entry && { revision: entry.revision, value: entry.value };
}

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves when `connection` is back after a disconnect (a request sent before may be lost). */
async function reconnected(connection: NatsConnection): Promise<void> {
  for await (const status of connection.status()) if (status.type === "reconnect") return;
}

describe("EntryCache", () => {
  it("keeps the newest revision of a key and forgets only what is not newer", () => {
    const cache = new EntryCache<string>();
    cache.remember("k", 5, "five", 6);
    cache.remember("k", 3, "three", 7);
    assert.deepEqual(cache.get("k"), { revision: 5, value: "five", bytes: 6 });
    cache.forget("k", 4);
    assert.equal(cache.get("k")?.value, "five");
    cache.forget("k", 5);
    assert.equal(cache.get("k"), undefined);
    assert.equal(cache.bytes, 0);
  });

  it("drops the least recently used key past its limit on keys", () => {
    const cache = new EntryCache<number>({ entries: 2 });
    cache.remember("a", 1, 1, 1);
    cache.remember("b", 1, 2, 1);
    cache.get("a");
    cache.remember("c", 1, 3, 1);
    assert.equal(cache.size, 2);
    assert.equal(cache.get("b"), undefined);
    assert.equal(cache.get("a")?.value, 1);
    assert.equal(cache.get("c")?.value, 3);
  });

  it("keeps the stored bytes within its budget, and never a value larger than all of it", () => {
    const cache = new EntryCache<string>({ bytes: 100 });
    cache.remember("a", 1, "a", 40);
    cache.remember("b", 1, "b", 40);
    cache.remember("a", 2, "a2", 50);
    assert.equal(cache.bytes, 90);
    cache.remember("c", 1, "c", 30);
    assert.deepEqual([cache.get("b"), cache.get("a")?.value, cache.get("c")?.value], [undefined, "a2", "c"]);
    assert.equal(cache.bytes, 80);
    cache.remember("a", 3, "huge", 101);
    assert.equal(cache.get("a"), undefined, "an oversized newer value replaces the key by nothing");
    assert.equal(cache.bytes, 30);
    cache.clear();
    assert.deepEqual([cache.size, cache.bytes], [0, 0]);
  });

  it("deep-freezes what it keeps outside production, so no reader can change it in place", () => {
    assert.notEqual(process.env["NODE_ENV"], "production");
    const cache = new EntryCache<{ runs: Array<{ id: string }> }>();
    const value = { runs: [{ id: "1" }] };
    cache.remember("k", 1, value, 20);
    assert.throws(() => value.runs.push({ id: "2" }), TypeError);
    assert.throws(() => {
      (value.runs[0] as { id: string }).id = "x";
    }, TypeError);
  });

  it("knows a value on its way only by its exact bytes, until the write is over", () => {
    const cache = new EntryCache<Letters>();
    const value = { letters: ["a"] };
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    cache.writing("k", bytes, value);
    assert.equal(cache.beingWritten("k", new TextEncoder().encode('{"letters":["a"]}')), value);
    assert.equal(cache.beingWritten("k", new TextEncoder().encode('{"letters":["b"]}')), undefined);
    assert.equal(cache.beingWritten("other", bytes), undefined);
    cache.written("k", bytes);
    assert.equal(cache.beingWritten("k", bytes), undefined);
  });
});

describe("compare-and-set and the status view with a cache, against a real NATS", () => {
  let nats: TestServer;
  let nc: NatsConnection;
  let other: NatsConnection;
  let kv: KV;
  let otherKv: KV;
  let bucket = 0;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    // after a restart, the other replica comes back later than this one, as it may in a
    // deployment (each client waits out its own reconnect timer): a test that restarts the
    // server must wait for both, or the next test's first request on it is lost
    other = await connect({ servers: nats.url, reconnectTimeWait: 2_500 });
  });

  after(async () => {
    await other.close();
    await nc.drain();
    await nats.dispose();
  });

  /** a fresh bucket, opened on two connections (two replicas) */
  const fresh = async (): Promise<void> => {
    bucket += 1;
    kv = await new Kvm(nc).create(`cache_test_${bucket}`, { history: 5 });
    otherKv = await new Kvm(other).open(`cache_test_${bucket}`);
  };

  it("writes from a current cached value without reading the key", async () => {
    await fresh();
    const cache = new EntryCache<Letters>();
    const { kv: counted, gets } = counting(kv);
    const first = await compareAndSet(counted, "k", add("a"), { cache });
    assert.equal(gets(), 1, "the first write reads: nothing is cached");
    assert.deepEqual(seen(cache, "k"), { revision: first.revision, value: { letters: ["a"] } });
    const second = await compareAndSet(counted, "k", add("b"), { cache });
    assert.equal(gets(), 1, "the second write starts from the cache");
    assert.equal(second.written, true);
    assert.deepEqual(second.previous, { letters: ["a"] });
    assert.deepEqual((await kv.get("k"))?.json(), { letters: ["a", "b"] });
    assert.equal(cache.get("k")?.revision, second.revision);
  });

  it("reads and keeps both updates when another writer made the cached value stale", async () => {
    await fresh();
    const cache = new EntryCache<Letters>();
    await compareAndSet(kv, "k", add("a"), { cache });
    await compareAndSet(otherKv, "k", add("b"));
    const { kv: counted, gets } = counting(kv);
    const result = await compareAndSet(counted, "k", add("c"), { cache });
    assert.equal(gets(), 1, "the refused write is followed by one read");
    assert.deepEqual(result.previous, { letters: ["a", "b"] });
    assert.deepEqual((await kv.get("k"))?.json(), { letters: ["a", "b", "c"] });
    assert.deepEqual(seen(cache, "k"), { revision: result.revision, value: { letters: ["a", "b", "c"] } });
  });

  it("does not take a stale cached value's word that nothing needs to change", async () => {
    await fresh();
    const cache = new EntryCache<Letters>();
    await compareAndSet(kv, "k", add("a"), { cache });
    // another replica rewrites the key without "a"; the cache still shows it
    const entry = await otherKv.get("k");
    await otherKv.update("k", JSON.stringify({ letters: ["z"] }), entry?.revision ?? 0);
    const result = await compareAndSet(kv, "k", add("a"), { cache });
    assert.equal(result.written, true);
    assert.deepEqual((await kv.get("k"))?.json(), { letters: ["z", "a"] });
  });

  it("answers unchanged after confirming it with a read", async () => {
    await fresh();
    const cache = new EntryCache<Letters>();
    const written = await compareAndSet(kv, "k", add("a"), { cache });
    const { kv: counted, gets } = counting(kv);
    const again = await compareAndSet(counted, "k", add("a"), { cache });
    assert.equal(gets(), 1);
    assert.deepEqual(again, {
      value: { letters: ["a"] },
      previous: { letters: ["a"] },
      revision: written.revision,
      written: false,
    });
  });

  it("writes over a key another replica deleted while it was cached", async () => {
    await fresh();
    const cache = new EntryCache<Letters>();
    await compareAndSet(kv, "k", add("a"), { cache });
    await otherKv.delete("k");
    const result = await compareAndSet(kv, "k", add("b"), { cache });
    assert.equal(result.previous, null);
    assert.deepEqual((await kv.get("k"))?.json(), { letters: ["b"] });
    assert.deepEqual(seen(cache, "k"), { revision: result.revision, value: { letters: ["b"] } });
  });

  it("keeps the copy a watcher kept of its write first, rather than hold an equal second one", async () => {
    await fresh();
    const cache = new EntryCache<Letters>();
    const watchers = { letters: ["a"] };
    // the status view often takes a write from the watch before its answer arrives
    const watched = new Proxy(kv, {
      get(target, property) {
        if (property === "create") {
          return async (...args: Parameters<KV["create"]>) => {
            const revision = await target.create(...args);
            cache.remember(args[0], revision, watchers, 16);
            return revision;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const result = await compareAndSet(watched, "k", add("a"), { cache });
    assert.equal(cache.get("k")?.revision, result.revision);
    assert.equal(cache.get("k")?.value, watchers);
  });

  it("forgets everything when the connection comes back (the server may have lost the bucket)", async () => {
    await fresh();
    const cache = new EntryCache<Letters>();
    await compareAndSet(kv, "k", add("a"), { cache });
    clearOnReconnect(nc, [cache]);
    const bothBack = Promise.all([reconnected(nc), reconnected(other)]);
    await nats.restart();
    await until(() => (cache.size === 0 ? true : undefined), "the cache emptied", 15_000);
    await compareAndSet(kv, "k", add("b"), { cache });
    assert.deepEqual((await kv.get("k"))?.json(), { letters: ["a", "b"] });
    // the next tests use both connections
    await bothBack;
  });

  describe("the status store and view sharing a cache", () => {
    let view: RunningView | null = null;
    after(async () => view?.stop());

    it("stores what it would without one, and the view takes its own writes from it", async () => {
      await fresh();
      const caches = {
        runs: new EntryCache<RunState>({ entries: 10 }),
        branches: new EntryCache<BranchState>(),
      };
      view = await startView(kv, createLogger({ level: "silent", secrets: [] }), { cache: caches.branches });
      const { kv: counted, gets } = counting(kv);
      const options = { kv: counted, runsPerBranch: 5, caches };
      const repo = "acme/cached";
      const branchKey = branchStoreKey("github", repo, "main", "CI");
      // a run's pipeline event, then its jobs one batch at a time, as a consumer gets them
      await applyEventsToStore(options, [buildEvent({ repository: repo, runId: "900", status: "running" })]);
      const readsForFirst = gets();
      for (let i = 0; i < 5; i++) {
        await applyEventsToStore(options, [
          buildEvent({
            repository: repo,
            runId: "900",
            status: i === 4 ? "failure" : "success",
            job: { id: `job-${i}`, name: `job ${i}` },
          }),
        ]);
      }
      // each later batch reads only the run record once more (the check for a run moved by
      // another replica), never the branch list or the run before changing them
      assert.equal(gets() - readsForFirst, 5);

      const stored = (await kv.get(branchKey))?.json<BranchState>();
      const run = (await kv.get(runStoreKey("github", `id-${repo}`, "900")))?.json<RunState>();
      assert.equal(run?.jobs.length, 5);
      assert.equal(stored?.runs[0]?.failedJobs.length, 1);
      const shown = await until(
        () => view?.forRepository(repo).find((state) => state.runs[0]?.failedJobs.length === 1),
        "the view showing the failed job",
      );
      assert.equal(shown, caches.branches.get(branchKey)?.value, "the view holds the store's own object");
      assert.deepEqual(shown, stored, "which is what the bucket holds");

      // a write by another replica reaches the view parsed, and the cache with it
      assert.ok(stored);
      const entry = await otherKv.get(branchKey);
      const theirs: BranchState = { ...stored, runs: [] };
      const revision = await otherKv.update(branchKey, JSON.stringify(theirs), entry?.revision ?? 0);
      await until(() => (view?.forRepository(repo)[0]?.runs.length === 0 ? true : undefined), "their write");
      assert.deepEqual(seen(caches.branches, branchKey), { revision, value: theirs });

      // and a delete by another replica empties the view's slot and the cache's key
      await otherKv.delete(branchKey);
      await until(() => (view?.forRepository(repo).length === 0 ? true : undefined), "their delete");
      assert.equal(caches.branches.get(branchKey), undefined);
    });

    it("keeps a list of a shape it cannot compact as it is, and goes on watching", async () => {
      await fresh();
      await view?.stop();
      view = await startView(kv, createLogger({ level: "silent", secrets: [] }), {
        cache: new EntryCache<BranchState>(),
      });
      const odd = branchStoreKey("github", "acme/odd", "main", "CI");
      await kv.put(odd, JSON.stringify({ v: 1, repository: { fullName: "acme/odd" }, runs: "none" }));
      await applyEventsToStore({ kv, runsPerBranch: 5 }, [buildEvent({ repository: "acme/later" })]);
      await until(() => view?.forRepository("acme/later")[0], "a list written after it");
      assert.deepEqual(view.forRepository("acme/odd")[0]?.runs, "none");
    });

    it("holds equal values once: one repository for its lists, one author for its runs", async () => {
      await fresh();
      await view?.stop();
      const caches = {
        runs: new EntryCache<RunState>({ entries: 10 }),
        branches: new EntryCache<BranchState>(),
      };
      const logger = createLogger({ level: "silent", secrets: [] });
      view = await startView(kv, logger, { cache: caches.branches });
      const repo = "acme/monorepo";
      const branches = ["feature/a", "feature/b"];
      await applyEventsToStore(
        { kv, runsPerBranch: 5, caches },
        branches.flatMap((branch, b) =>
          ["1", "2"].map((n) => buildEvent({ repository: repo, branch, runId: `${b}${n}`, author: "Ada" })),
        ),
      );
      const keys = branches.map((branch) => branchStoreKey("github", repo, branch, "CI"));

      /** what a view holds for both branches, once it holds both runs of each */
      const listsOf = (running: RunningView): Promise<BranchState[]> =>
        until(() => {
          const lists = running.forRepository(repo).sort((a, b) => a.branch.localeCompare(b.branch));
          return lists.length === 2 && lists.every((list) => list.runs.length === 2) ? lists : undefined;
        }, "both branches with both runs");
      const check = async (lists: BranchState[], cache: EntryCache<BranchState>): Promise<void> => {
        const [a, b] = lists;
        assert.ok(a && b);
        assert.equal(a.repository, b.repository, "the lists of a repository share it");
        assert.equal(a.runs[0]?.commit.author, a.runs[1]?.commit.author, "the runs of an author share them");
        for (const [i, list] of lists.entries()) {
          const key = keys[i] as string;
          assert.equal(cache.get(key)?.value, list, "the cache holds the view's copy, not one of its own");
          assert.equal(JSON.stringify(list), (await kv.get(key))?.string(), "and says what the bucket holds");
        }
      };
      // the replica that wrote them, then one that starts and reads them (an ingress replica)
      await check(await listsOf(view), caches.branches);
      const reader = new EntryCache<BranchState>();
      const started = await startView(kv, logger, { cache: reader });
      try {
        await check(await listsOf(started), reader);
      } finally {
        await started.stop();
      }
    });
  });
});
