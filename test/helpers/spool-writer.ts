// Appends `count` events of about 700 bytes each to a Spool in `dir`, one per append, and
// prints "ok <id>" or "error <code>" for each: run under `ulimit -f` to make the disk refuse
// part of a write, as a nearly full disk does (node ignores SIGXFSZ; the write is short,
// then fails with EFBIG).
import { Spool } from "../../src/bus/spool.ts";
import type { BuildEvent } from "../../src/events/schema.ts";

const [dir = "", count = "0"] = process.argv.slice(2);
const spool = new Spool(dir, 1024 * 1024);
for (let i = 0; i < Number(count); i++) {
  const id = `event-${i}`;
  const event = { id, type: "build.pipeline.finished.v1", padding: "x".repeat(680) } as unknown as BuildEvent;
  try {
    spool.append([event]);
    console.log(`ok ${id}`);
  } catch (error) {
    console.log(`error ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
spool.close();
