import { realpath } from "node:fs/promises";
import { resolve } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type { SpawnWorkerRequest } from "../../../gen/apiary/v1/hive_pb.js";
import type { WorkerControl } from "../hive-service.js";
import { resolveProgram } from "./resolve-program.js";

/**
 * Absolute paths or globs (`*` and `?` within one path segment, `**` across segments) of the
 * programs SpawnWorker may start. A program is matched by the path exec would run (argv[0]
 * looked up in the request's PATH) and by that path with symlinks resolved.
 */
export class ProgramAllowList {
  private readonly patterns: { text: string; re: RegExp }[];

  constructor(patterns: string[]) {
    this.patterns = patterns.map((text) => {
      if (!text.startsWith("/")) throw new Error(`allowed program ${JSON.stringify(text)}: must be an absolute path or glob`);
      return { text, re: globToRegExp(text) };
    });
  }

  get size(): number {
    return this.patterns.length;
  }

  matches(path: string): boolean {
    return this.patterns.some((p) => p.re.test(path));
  }

  /** Throws PERMISSION_DENIED naming the program when neither its path nor its real path is allowed. */
  async check(req: SpawnWorkerRequest): Promise<void> {
    const program = req.argv[0];
    if (program === undefined || program === "") return; // validation answers INVALID_ARGUMENT
    const cwd = req.cwd === "" ? process.cwd() : resolve(req.cwd);
    const pathEnv = req.env.PATH ?? process.env.PATH ?? "";
    const found = await resolveProgram(program, pathEnv, cwd);
    if (found === undefined) return; // the supervisor answers "program not found"
    if (this.matches(found)) return;
    const real = await realpath(found).catch(() => found);
    if (this.matches(real)) return;
    const shown = found === program ? program : `${program} (${found})`;
    throw new ConnectError(`argv[0]: program ${shown} is not in this hive's allow-list (--allow-program)`, Code.PermissionDenied);
  }

  /** `workers` with every spawn checked first; every other member passes through. */
  guard<W extends WorkerControl>(workers: W): W {
    const spawn = async (req: SpawnWorkerRequest) => {
      await this.check(req);
      return workers.spawn(req);
    };
    return new Proxy(workers, {
      get(target, prop) {
        if (prop === "spawn") return spawn;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}

export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      out += ".*";
      i++;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}
