import { parseArgs } from "node:util";
import { UsageError, type FlagSpec, type FlagValues, type ParsedArgs, type UntypedFlags } from "./command.js";

/**
 * Parses argv against a command's flags. A flag given on the command line wins,
 * then its APIARY_* environment variable, then its default.
 */
export function parseFlags<const F extends readonly FlagSpec[]>(commandName: string, specs: F, argv: string[], env = process.env): ParsedArgs<F> {
  const dashDash = argv.indexOf("--");
  const own = dashDash === -1 ? argv : argv.slice(0, dashDash);
  const rest = dashDash === -1 ? [] : argv.slice(dashDash + 1);
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const spec of specs) {
    options[spec.name] = { type: spec.type, multiple: spec.multiple ?? false };
    if (spec.short) options[spec.name].short = spec.short;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: own, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`apiary ${commandName}: ${cleanParseError(err)} (see apiary ${commandName} --help)`);
  }
  const flags: UntypedFlags = { help: parsed.values.help === true };
  for (const spec of specs) {
    const given = parsed.values[spec.name];
    if (given !== undefined) {
      // A repeatable flag of the table is a string flag: node:util types its list as (string | boolean)[].
      flags[spec.name] = Array.isArray(given) ? given.map(String) : given;
      continue;
    }
    const fromEnv = spec.env ? env[spec.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== "") {
      flags[spec.name] = envValue(spec, fromEnv, commandName);
      continue;
    }
    flags[spec.name] = spec.multiple ? [] : (spec.default ?? (spec.type === "boolean" ? false : undefined));
  }
  // The one place where the table's types meet the values node:util parsed against the same table.
  return { flags: flags as FlagValues<F>, positionals: parsed.positionals, rest };
}

function envValue(spec: FlagSpec, text: string, commandName: string): string | boolean | string[] {
  if (spec.type === "boolean") {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    throw new UsageError(`apiary ${commandName}: ${spec.env}=${text}: expected true or false`);
  }
  return spec.multiple ? text.split(",").map((s) => s.trim()).filter(Boolean) : text;
}

function cleanParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // node's messages carry a hint about positionals that does not apply here.
  return message.replace(/\. To specify a positional argument.*$/s, "").replace(/^Unknown option/, "unknown flag");
}
