/**
 * Secrets on worker command lines (`--api-key K`, `--hf-token=T`, `HF_TOKEN=T` under env,
 * `https://user:pass@host`) are shown as REDACTED wherever the hive shows argv: ListWorkers,
 * reports to the queen (and so Watch, describe, FindWorkers), its own logs. The worker itself
 * gets them unchanged. Readers, hives and dashboards never need the values.
 */
export const REDACTED = "<redacted>";

/** Flags whose value is a secret: the last word of the name is one of these. */
const SECRET_FLAG = /^--?(?:[a-z0-9]+[-_])*(?:token|api[-_]?key|apikey|secret|secret[-_]key|password|passwd|pass|passphrase|credentials?|access[-_]key|private[-_]key|auth[-_]token)$/i;
/** NAME=value arguments (env, docker -e) whose name says secret. */
const SECRET_ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?))=(.+)$/i;
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)[^@/\s]+@/i;

export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    if (arg.startsWith("-") && eq > 0 && SECRET_FLAG.test(arg.slice(0, eq))) {
      out.push(`${arg.slice(0, eq)}=${REDACTED}`);
    } else if (arg.startsWith("-") && SECRET_FLAG.test(arg) && i + 1 < argv.length) {
      out.push(arg, REDACTED);
      i++;
    } else if (SECRET_ASSIGNMENT.test(arg)) {
      out.push(`${SECRET_ASSIGNMENT.exec(arg)![1]}=${REDACTED}`);
    } else {
      out.push(arg.replace(URL_PASSWORD, `$1${REDACTED}@`));
    }
  }
  return out;
}

const cache = new WeakMap<readonly string[], string[]>();

/** redactArgv, computed once per argv array (a worker's argv never changes; reports are built every tick). */
export function redactedArgvOf(argv: readonly string[]): string[] {
  let redacted = cache.get(argv);
  if (!redacted) cache.set(argv, (redacted = redactArgv(argv)));
  return [...redacted];
}
