/**
 * Loaded into the gateway by bench/soak.ts when the soak runs with --expose-gc: on SIGUSR2
 * it collects garbage (three times, so what weak references and finalizers free goes too)
 * and writes the heap used (and total, and memory outside the heap) to BUILDCAST_SOAK_HEAP_FILE, then, when that file's `.snapshot`
 * companion names a path, a heap snapshot there. The gateway itself never handles SIGUSR2.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { writeHeapSnapshot } from "node:v8";

const file = process.env.BUILDCAST_SOAK_HEAP_FILE;
const gc = (globalThis as { gc?: () => void }).gc;
if (file && gc) {
  process.on("SIGUSR2", () => {
    for (let i = 0; i < 3; i++) gc();
    const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    let snapshot: string | undefined;
    try {
      snapshot = readFileSync(`${file}.snapshot`, "utf8").trim() || undefined;
      rmSync(`${file}.snapshot`);
    } catch {
      // no snapshot asked for
    }
    if (snapshot) writeHeapSnapshot(snapshot);
    writeFileSync(`${file}.tmp`, JSON.stringify({ heapUsed, heapTotal, external, arrayBuffers, snapshot }));
    // a rename, so the soak never reads half a line
    renameSync(`${file}.tmp`, file);
  });
}
