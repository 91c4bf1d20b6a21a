import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import type { Status } from "../../src/events/schema.ts";
import { applyEvent } from "../../src/status/merge.ts";
import type { BranchState } from "../../src/status/model.ts";
import { createStatusRouter } from "../../src/status/router.ts";
import { createSseHub } from "../../src/status/sse.ts";
import { mergeBranch, summarize } from "../../src/status/summary.ts";
import type { StatusView, ViewChange } from "../../src/status/view.ts";
import { buildEvent } from "./events.ts";

/** Chromium as installed on the machine, headless: never a downloaded browser. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** An in-memory view the test drives: the router and its live feed read it as the KV-backed one. */
export function memoryView(repository = "acme/quiet") {
  const slots = new Map<string, { state: BranchState; revision: number }>();
  const listeners = new Set<(change: ViewChange) => void>();
  let revision = 0;
  const view: StatusView = {
    states: () => [...slots.values()].map((slot) => slot.state),
    forRepository: (name) =>
      [...slots.values()].map((slot) => slot.state).filter((s) => s.repository.fullName === name),
    revision: () => revision,
    changedSince: (since) =>
      [...slots.entries()]
        .filter(([, slot]) => slot.revision > since)
        .map(([key, slot]) => ({ key, revision: slot.revision, state: slot.state, previous: null })),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const set = (branch: string, runId: string, status: Status): void => {
    const run = applyEvent(null, buildEvent({ repository, branch, runId, status }));
    revision++;
    const previous = slots.get(branch)?.state ?? null;
    const state = mergeBranch(null, run, summarize(run, revision), branch, 5);
    slots.set(branch, { state, revision });
    for (const listener of listeners) listener({ key: branch, revision, state, previous });
  };
  /** the branch's list expired (retention): its row goes */
  const remove = (branch: string): void => {
    const previous = slots.get(branch)?.state ?? null;
    if (previous === null) return;
    revision++;
    slots.delete(branch);
    for (const listener of listeners) listener({ key: branch, revision, state: null, previous });
  };
  return { view, set, remove };
}

/** The status router alone, over a view, on a free port: a dashboard without NATS. */
export async function serveView(
  view: StatusView,
  options: { heartbeatMs?: number; apiToken?: string; storeConnected?: () => boolean } = {},
) {
  const hub = createSseHub(view, {
    heartbeatMs: options.heartbeatMs ?? 15_000,
    ...(options.storeConnected ? { storeConnected: options.storeConnected } : {}),
  });
  const app = express();
  app.use(
    createStatusRouter({
      view,
      sse: hub,
      apiToken: options.apiToken ?? null,
      locateRun: () => Promise.resolve(null),
    }),
  );
  const server = await new Promise<Server>((resolve) => {
    const s: Server = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    port: (server.address() as AddressInfo).port,
    close: async (): Promise<void> => {
      hub.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
