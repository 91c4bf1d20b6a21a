import type { KV } from "@nats-io/kv";
import type { Provider } from "../events/schema.ts";
import { runIdFilter, runStoreKey } from "./keys.ts";
import type { RunState } from "./model.ts";
import type { RunLocator } from "./run-detail.ts";
import type { StatusView } from "./view.ts";

/**
 * Run ids are unique per provider in practice but stored under their repository id too
 * (commit statuses use sha:context). Recent runs are found through the view; older ones
 * by a key scan filtered on the server.
 */
export function runLocator(kv: KV, view: StatusView): RunLocator {
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
    const keys = await kv.keys(runIdFilter(provider, runId));
    for await (const key of keys) {
      const found = await read(key);
      if (found) {
        keys.stop();
        return found;
      }
    }
    return null;
  };
}
