import { readFileSync } from "node:fs";

/** The package version, read from package.json so `sseg --version` can never drift from it. */
export const VERSION: string = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
).version;
