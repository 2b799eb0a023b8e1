import { readFileSync } from "node:fs";

/** The apiary version, from package.json. */
export const APIARY_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
