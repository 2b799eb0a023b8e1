/** `--name value` / `--name=value` / `--flag` flags after the positional arguments. */
export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string>;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) flags.set(arg.slice(2), argv[++i]);
    else flags.set(arg.slice(2), "true");
  }
  return { positional, flags };
}

/** Typed access to flags with defaults; unknown flags are reported by `unused()`. */
export class Flags {
  private readonly used = new Set<string>();
  constructor(private readonly flags: Map<string, string>) {}

  num(name: string, fallback: number): number {
    this.used.add(name);
    const raw = this.flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw.replace(/_/g, ""));
    if (!Number.isFinite(value)) throw new Error(`--${name}: expected a number, got ${JSON.stringify(raw)}`);
    return value;
  }

  str(name: string, fallback: string): string {
    this.used.add(name);
    return this.flags.get(name) ?? fallback;
  }

  bool(name: string): boolean {
    this.used.add(name);
    const raw = this.flags.get(name);
    return raw !== undefined && raw !== "false";
  }

  list(name: string, fallback: number[]): number[] {
    this.used.add(name);
    const raw = this.flags.get(name);
    return raw === undefined ? fallback : raw.split(",").map((s) => Number(s.replace(/_/g, "")));
  }

  unused(): string[] {
    return [...this.flags.keys()].filter((k) => !this.used.has(k));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
