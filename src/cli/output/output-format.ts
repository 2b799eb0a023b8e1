import { defineFlags, type FlagSpec, type ParsedArgs } from "../command.js";
import { UsageError } from "../command.js";

export const OUTPUT_FORMATS = ["table", "wide", "json", "yaml", "name"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const outputFlag = {
  name: "output", short: "o", type: "string", value: "FORMAT", env: "APIARY_OUTPUT",
  help: "table|wide|json|yaml|name (wide adds labels, GPU UUIDs, endpoints; json/yaml print every field)",
} as const satisfies FlagSpec;
export const jsonFlag = { name: "json", type: "boolean", help: "same as -o json" } as const satisfies FlagSpec;

/** Both output flags, for a command's flag list. */
export const outputFlags = defineFlags([outputFlag, jsonFlag]);

/** The format asked for by -o / --json; `allowed` limits it for commands that print no table. */
export function outputFormat(flags: ParsedArgs["flags"], allowed: readonly OutputFormat[] = OUTPUT_FORMATS): OutputFormat {
  const given = flags.output as string | undefined;
  if (flags.json === true && given !== undefined && given !== "json") {
    throw new UsageError(`--json and -o ${given} contradict each other`);
  }
  const format = (flags.json === true ? "json" : (given ?? "table")) as OutputFormat;
  if (!allowed.includes(format)) {
    throw new UsageError(`-o ${given}: expected one of ${allowed.join(", ")}`);
  }
  return format;
}
