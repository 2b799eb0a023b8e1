import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where argv[0] would be found by exec: a name with a slash is taken relative
 * to `cwd`, a bare name is looked up in `pathEnv`. undefined when there is no
 * executable file there.
 */
export async function resolveProgram(program: string, pathEnv: string, cwd: string): Promise<string | undefined> {
  if (program.includes("/")) {
    const path = isAbsolute(program) ? program : resolve(cwd, program);
    return (await isExecutableFile(path)) ? path : undefined;
  }
  for (const dir of pathEnv.split(delimiter)) {
    const candidate = join(dir === "" ? cwd : resolve(cwd, dir), program);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
