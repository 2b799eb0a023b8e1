import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CliError, UsageError, defineCommand, defineFlags, type FlagValues } from "../command.js";
import { intFlag } from "../parse-values.js";
import { isRole, type Identity } from "../../rpc/auth/identity.js";
import { spiffeId } from "../../rpc/auth/identity.js";
import { newToken, tokenFileLine } from "../../rpc/auth/token-store.js";

const USAGE = [
  "apiary certs init DIR [--days 3650]",
  "apiary certs issue DIR --hive ID | --queen NAME | --client NAME [--role admin|reader] [--dns NAME]… [--ip ADDR]… [--loopback] [--days 365]",
  "apiary certs token --name NAME --role admin|reader [--token-file FILE]",
].join("\n       ");

const certsFlags = defineFlags([
  { name: "hive", type: "string", value: "ID", help: "issue a hive certificate (its id must be the hive's --id)" },
  { name: "queen", type: "string", value: "NAME", help: "issue a queen certificate" },
  { name: "client", type: "string", value: "NAME", help: "issue a client certificate" },
  { name: "role", type: "string", value: "ROLE", help: "admin or reader, for --client and token [default: reader]" },
  { name: "dns", type: "string", value: "NAME", multiple: true, help: "extra DNS SAN (servers)" },
  { name: "ip", type: "string", value: "ADDR", multiple: true, help: "extra IP SAN (servers)" },
  { name: "loopback", type: "boolean", help: "also name localhost, 127.0.0.1 and ::1 (servers, for curl-like clients on the same machine)" },
  { name: "days", type: "string", value: "N", help: "validity in days [default: CA 3650, leaf 365]" },
  { name: "force", type: "boolean", help: "overwrite existing files" },
  { name: "name", type: "string", value: "NAME", help: "token owner (token)" },
  { name: "token-file", type: "string", value: "FILE", help: "token file to append the token's hash to (token)" },
]);
type CertsFlags = FlagValues<typeof certsFlags>;

export const certsCommand = defineCommand({
  name: "certs",
  usage: USAGE,
  description: [
    "Identities are SPIFFE IDs in the certificate's URI SAN: spiffe://apiary/hive/<id>,",
    "spiffe://apiary/queen/<name>, spiffe://apiary/client/<role>/<name>. Hive and queen",
    "certificates get only the DNS/IP SANs given (--dns/--ip; --loopback adds localhost, 127.0.0.1, ::1):",
    "apiary's clients verify the SPIFFE ID, so the names matter only to other TLS clients (curl, buf curl).",
    "Keys are ECDSA P-256, written 0600. A CA of your own (cert-manager, Vault, SPIRE) works as",
    "well: it only has to put the same URI SANs in.",
    "`certs token` prints a new token once and appends its hash to --token-file (the servers' --token-file).",
  ].join("\n"),
  flags: certsFlags,
  async run(args) {
    const [sub, ...rest] = args.positionals;
    if (sub === "init") return init(rest, args.flags);
    if (sub === "issue") return issue(rest, args.flags);
    if (sub === "token") return token(rest, args.flags);
    throw new UsageError(`apiary certs: expected init, issue or token (usage: ${USAGE.split("\n")[0]} …)`);
  },
});

function writeOnce(file: string, content: string, mode: number, force: boolean): void {
  if (!force && existsSync(file)) throw new CliError(`${file} exists (--force overwrites it)`);
  writeFileSync(file, content, { mode });
}

/** X.509 generation (@peculiar/x509 and its ASN.1 schemas) loads only for `apiary certs`: it costs every other command's start. */
const loadPki = () => import("../../rpc/tls/pki.js");

function days(flags: CertsFlags): number | undefined {
  return intFlag("days", flags.days, 1, 36_500);
}

async function init(rest: string[], flags: CertsFlags): Promise<number> {
  const dir = rest[0];
  if (!dir || rest.length > 1) throw new UsageError("apiary certs init: give exactly one DIR");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await (await loadPki()).createCa("apiary CA", { days: days(flags) });
  const force = flags.force === true;
  writeOnce(path.join(dir, "ca.key"), ca.keyPem, 0o600, force);
  writeOnce(path.join(dir, "ca.crt"), ca.certPem, 0o644, force);
  process.stdout.write(`wrote ${path.join(dir, "ca.crt")} and ${path.join(dir, "ca.key")} (keep the key off the cluster's machines)\n`);
  return 0;
}

function identityOf(flags: CertsFlags): Identity {
  const given = (["hive", "queen", "client"] as const).flatMap((kind) => {
    const name = flags[kind];
    return name === undefined ? [] : [{ kind, name }];
  });
  if (given.length !== 1) throw new UsageError("apiary certs issue: give one of --hive ID, --queen NAME or --client NAME");
  const { kind, name } = given[0];
  const role = flags.role ?? "reader";
  if (kind !== "client" && flags.role !== undefined) throw new UsageError("apiary certs issue: --role is for --client");
  if (!isRole(role)) throw new UsageError(`--role ${role}: expected admin or reader`);
  const identity: Identity = kind === "client" ? { kind, name, role } : { kind, name };
  try {
    spiffeId(identity);
  } catch (err) {
    throw new UsageError(`--${kind}: ${(err as Error).message}`);
  }
  return identity;
}

async function issue(rest: string[], flags: CertsFlags): Promise<number> {
  const dir = rest[0];
  if (!dir || rest.length > 1) throw new UsageError("apiary certs issue: give exactly one DIR (where certs init wrote the CA)");
  const identity = identityOf(flags);
  let ca;
  try {
    ca = { certPem: readFileSync(path.join(dir, "ca.crt"), "utf8"), keyPem: readFileSync(path.join(dir, "ca.key"), "utf8") };
  } catch (err) {
    throw new CliError(`${dir}: no CA there (${(err as NodeJS.ErrnoException).code}); run apiary certs init ${dir} first`);
  }
  const server = identity.kind !== "client";
  const loopback = flags.loopback === true;
  if (!server && (loopback || flags.dns.length > 0 || flags.ip.length > 0)) {
    throw new UsageError("apiary certs issue: --dns, --ip and --loopback are for --hive and --queen (server) certificates");
  }
  const dns = [...new Set([...(loopback ? ["localhost"] : []), ...flags.dns])];
  const ips = [...new Set([...(loopback ? ["127.0.0.1", "::1"] : []), ...flags.ip])];
  const pair = await (await loadPki()).issueCertificate(ca, { identity, dns, ips, days: days(flags) });
  const base = path.join(dir, identity.kind === "client" ? `client-${identity.name}` : `${identity.kind}-${identity.name}`);
  const force = flags.force === true;
  writeOnce(`${base}.key`, pair.keyPem, 0o600, force);
  writeOnce(`${base}.crt`, pair.certPem, 0o644, force);
  const sans = [spiffeId(identity), ...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(", ");
  process.stdout.write(`wrote ${base}.crt and ${base}.key: ${sans}\n`);
  return 0;
}

async function token(rest: string[], flags: CertsFlags): Promise<number> {
  if (rest.length > 0) throw new UsageError(`apiary certs token: unexpected argument ${rest[0]}`);
  const name = flags.name;
  const role = flags.role ?? "reader";
  if (!name) throw new UsageError("apiary certs token: give --name NAME (who the token is for)");
  const value = newToken();
  let line: string;
  try {
    line = tokenFileLine(name, role, value);
  } catch (err) {
    throw new UsageError(`apiary certs token: ${(err as Error).message}`);
  }
  const file = flags["token-file"];
  if (file) {
    appendFileSync(file, `${line}\n`, { mode: 0o600 });
    process.stderr.write(`appended the hash of ${name}'s ${role} token to ${file} (servers reload it on change)\n`);
  } else {
    process.stderr.write(`add this line to the servers' --token-file:\n${line}\n`);
  }
  process.stdout.write(`${value}\n`);
  return 0;
}
