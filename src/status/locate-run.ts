import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Provider } from "../events/schema.ts";
import { runIdFilter, runStoreKey } from "./keys.ts";
import type { RunState } from "./model.ts";
import type { RunLocator } from "./run-detail.ts";
import type { StatusView } from "./view.ts";

/**
 * Run ids are unique per provider in practice but stored under their repository id too
 * (commit statuses use sha:context). Recent runs are found through the view; older ones
 * through the bucket stream's subject index, filtered on the server. Not kv.keys: it leaves
 * an ephemeral consumer on the server for 5 minutes when nothing matches, so every lookup of
 * an unknown run (a typo, a scanner) would have added one.
 */
export function runLocator(
  kv: KV,
  view: StatusView,
  { jsm, bucket }: { readonly jsm: JetStreamManager; readonly bucket: string },
): RunLocator {
  const read = async (key: string) => {
    const entry = await kv.get(key);
    return entry && entry.operation === "PUT"
      ? { run: entry.json<RunState>(), revision: entry.revision }
      : null;
  };
  return async (provider: Provider, runId: string) => {
    for (const state of view.states()) {
      if (state.provider !== provider) continue;
      const hit = state.runs.find((r) => r.runId === runId);
      if (hit) return read(runStoreKey(provider, hit.repositoryId, runId));
    }
    const prefix = `$KV.${bucket}.`;
    const { state } = await jsm.streams.info(`KV_${bucket}`, {
      subjects_filter: prefix + runIdFilter(provider, runId),
    });
    for (const subject of Object.keys(state.subjects ?? {})) {
      const found = await read(subject.slice(prefix.length));
      if (found) return found;
    }
    return null;
  };
}
