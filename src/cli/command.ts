/** One flag of a command: parsed from argv, else from its environment variable, else its default. */
export interface FlagSpec {
  readonly name: string;
  readonly type: "string" | "boolean";
  readonly help: string;
  readonly short?: string;
  readonly env?: string;
  readonly default?: string | boolean;
  readonly multiple?: boolean;
  /** Shown in help as the value's placeholder, e.g. "ADDR". */
  readonly value?: string;
}

/** What a flag yields: a boolean (false unless given), a list when repeatable, a string (absent without a default). */
export type FlagValue<S extends FlagSpec> = S["type"] extends "boolean"
  ? boolean
  : S["multiple"] extends true
    ? string[]
    : S["default"] extends string
      ? string
      : string | undefined;

/** Flags of a table whose names are not known to the compiler (a plain FlagSpec[]). */
export type UntypedFlags = Record<string, string | boolean | string[] | undefined>;

/** The typed object a flag table yields: one property per flag, named as the flag, plus `help`. */
export type FlagValues<F extends readonly FlagSpec[]> = string extends F[number]["name"]
  ? UntypedFlags
  : { [S in F[number] as S["name"]]: FlagValue<S> } & { help: boolean };

/** Keeps the literal names and types of a flag table, so FlagValues can type what it yields. */
export function defineFlags<const F extends readonly FlagSpec[]>(flags: F): F {
  return flags;
}

export interface ParsedArgs<F extends readonly FlagSpec[] = readonly FlagSpec[]> {
  flags: FlagValues<F>;
  positionals: string[];
  /** Everything after a lone `--`. */
  rest: string[];
}

export interface Command<F extends readonly FlagSpec[] = readonly FlagSpec[]> {
  name: string;
  /** @deprecated the summary lives in the command table (commands/index.ts) */
  summary?: string;
  usage: string;
  flags: F;
  /** Longer explanation printed by --help after the usage line. */
  description?: string;
  run(args: ParsedArgs<F>): Promise<number>;
}

/** A row of the command table: what `apiary --help` lists, and how to load the command's code. */
export interface CommandEntry {
  name: string;
  summary: string;
  /** A short-lived RPC client: runs with the CLI's own Headers class (light-headers.ts), so undici never loads. */
  lightHeaders?: true;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one place a command's flag types are erased
  load(): Promise<Command<any>>;
}

/** A command with its table row: everything help, completion and the CLI reference print. */
export type LoadedCommand = Command & { summary: string };

/** Loads every command of the table (help --markdown and completion scripts need all their flags). */
export async function loadCommands(entries: readonly CommandEntry[]): Promise<LoadedCommand[]> {
  return Promise.all(entries.map(async (e) => ({ ...(await e.load()), name: e.name, summary: e.summary })));
}

/** A command whose run() sees its flags typed from its own table. */
export function defineCommand<const F extends readonly FlagSpec[]>(command: Command<F>): Command<F> {
  return command;
}

/** A user mistake: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** A failure the user should read as one line, exit code 1 (queen unreachable, worker not found, …). */
export class CliError extends Error {}
