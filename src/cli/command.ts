/** One flag of a command: parsed from argv, else from its environment variable, else its default. */
export interface FlagSpec {
  name: string;
  type: "string" | "boolean";
  help: string;
  short?: string;
  env?: string;
  default?: string | boolean;
  multiple?: boolean;
  /** Shown in help as the value's placeholder, e.g. "ADDR". */
  value?: string;
}

export interface ParsedArgs {
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Everything after a lone `--`. */
  rest: string[];
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpec[];
  /** Longer explanation printed by --help after the usage line. */
  description?: string;
  run(args: ParsedArgs): Promise<number>;
}

/** A user mistake: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** A failure the user should read as one line, exit code 1 (queen unreachable, worker not found, …). */
export class CliError extends Error {}
