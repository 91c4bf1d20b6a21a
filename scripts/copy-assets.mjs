#!/usr/bin/env node
// tsc emits only JavaScript; files that modules read at run time (the dashboard's client
// script) are copied beside them so `npm run build && npm run start:prod` works as-is.
import { cpSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function copyAssets(from, to) {
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    if (statSync(source).isDirectory()) copyAssets(source, join(to, name));
    else if (!name.endsWith(".ts")) cpSync(source, join(to, name));
  }
}
copyAssets("src", "dist");
