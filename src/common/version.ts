import { readFileSync } from "node:fs";
import { packagePath } from "./package-root.js";

/** The apiary version, from package.json. */
export const APIARY_VERSION: string = (
  JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version: string }
).version;
