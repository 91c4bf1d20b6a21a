// Opens the Spool in `dir` as a restarted gateway does, then drains it, and prints how many
// events it counted and how many it drained: run with a small --max-old-space-size to show
// that neither holds a whole segment in memory.
import { Spool } from "../../src/bus/spool.ts";

const [dir = ""] = process.argv.slice(2);
const spool = new Spool(dir, 1024 * 1024 * 1024);
const counted = spool.stats().events;
let drained = 0;
await spool.drain(async () => {
  drained += 1;
});
console.log(`${counted} ${drained}`);
