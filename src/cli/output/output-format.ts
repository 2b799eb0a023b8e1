import { defineFlags, type FlagSpec, type FlagValues } from "../command.js";
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

type OutputFlags = Omit<FlagValues<typeof outputFlags>, "help">;

/** The format asked for by -o / --json; `allowed` limits it for commands that print no table. */
export function outputFormat(flags: OutputFlags): OutputFormat;
export function outputFormat<const A extends readonly OutputFormat[]>(flags: OutputFlags, allowed: A): A[number];
export function outputFormat(flags: OutputFlags, allowed: readonly OutputFormat[] = OUTPUT_FORMATS): OutputFormat {
  const given = flags.output;
  if (flags.json && given !== undefined && given !== "json") {
    throw new UsageError(`--json and -o ${given} contradict each other`);
  }
  const format = flags.json ? "json" : (given ?? "table");
  const chosen = allowed.find((f) => f === format);
  if (chosen === undefined) throw new UsageError(`-o ${given}: expected one of ${allowed.join(", ")}`);
  return chosen;
}
