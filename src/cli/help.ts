import type { CommandEntry, FlagSpec, LoadedCommand } from "./command.js";

/** The text `apiary CMD --help` prints. */
export function commandHelp(cmd: LoadedCommand): string {
  const lines = [`usage: ${cmd.usage}`, "", cmd.summary];
  if (cmd.description) lines.push("", cmd.description.trim());
  if (cmd.flags.length > 0) {
    lines.push("", "flags:");
    const left = cmd.flags.map(flagLeft);
    const width = Math.max(...left.map((l) => l.length));
    cmd.flags.forEach((flag, i) => lines.push(`  ${left[i].padEnd(width)}  ${flagRight(flag)}`));
  }
  return lines.join("\n") + "\n";
}

export function flagLeft(flag: FlagSpec): string {
  const short = flag.short ? `-${flag.short}, ` : "";
  const value = flag.type === "string" ? ` ${flag.value ?? "VALUE"}` : "";
  return `${short}--${flag.name}${value}`;
}

export function flagRight(flag: FlagSpec): string {
  const parts = [flag.help];
  if (flag.multiple) parts.push("(repeatable)");
  if (flag.default !== undefined && flag.default !== false) parts.push(`[default: ${String(flag.default)}]`);
  if (flag.env) parts.push(`[env: ${flag.env}]`);
  return parts.join(" ");
}

/** The text `apiary --help` prints. */
export function mainHelp(commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: apiary COMMAND [flags]",
    "",
    "GPU worker telemetry and scheduling for LLM clusters.",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `apiary COMMAND --help` for a command's flags.",
    "",
  ].join("\n");
}
