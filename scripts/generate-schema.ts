import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EVENTS_DOC_PATH, SCHEMA_PATH, generateDocs } from "./events-doc.ts";

/** Regenerates docs/build-event.v1.schema.json and the generated sections of docs/events.md. */
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { schema, eventsDoc } = await generateDocs(root);
await writeFile(join(root, SCHEMA_PATH), schema);
await writeFile(join(root, EVENTS_DOC_PATH), eventsDoc);
console.log(`wrote ${SCHEMA_PATH} and ${EVENTS_DOC_PATH}`);
