import { readFileSync } from "node:fs";
import { UsageError, defineFlags, type FlagValues } from "../command.js";
import type { ServerSecurityFlags } from "../server-flags.js";
import { durationFlag } from "../parse-values.js";
import type { StartQueenOptions } from "../../queen/queen.js";

/** `apiary queen` flags for several queens on etcd; without --etcd none of them applies. */
export const queenClusterFlags = defineFlags([
  { name: "etcd", type: "string", value: "URL[,URL…]", env: "APIARY_ETCD", help: "run as one of several queens sharing this etcd cluster (client URLs)" },
  { name: "etcd-prefix", type: "string", value: "PREFIX", env: "APIARY_ETCD_PREFIX", default: "/apiary/", help: "key prefix of this apiary cluster in etcd" },
  { name: "etcd-ca", type: "string", value: "FILE", env: "APIARY_ETCD_CA", help: "CA to verify etcd members with (https:// endpoints)" },
  { name: "etcd-cert", type: "string", value: "FILE", env: "APIARY_ETCD_CERT", help: "client certificate for etcd" },
  { name: "etcd-key", type: "string", value: "FILE", env: "APIARY_ETCD_KEY", help: "key of --etcd-cert" },
  { name: "etcd-user", type: "string", value: "NAME", env: "APIARY_ETCD_USER", help: "etcd user (its password from --etcd-password-file)" },
  { name: "etcd-password-file", type: "string", value: "FILE", env: "APIARY_ETCD_PASSWORD_FILE", help: "file holding the password of --etcd-user" },
  { name: "queen-id", type: "string", value: "ID", env: "APIARY_QUEEN_ID", help: "this queen's id in the cluster [default: hostname-port]" },
  { name: "advertise-url", type: "string", value: "URL", env: "APIARY_ADVERTISE_URL", help: "where the other queens reach this one [default: the listen URL, with the host name for 0.0.0.0]" },
  { name: "lease-ttl", type: "string", value: "DUR", env: "APIARY_LEASE_TTL", default: "10s", help: "TTL of the queen's etcd lease (its hives are taken over after it)" },
  { name: "peer-flush-interval", type: "string", value: "DUR", env: "APIARY_PEER_FLUSH_INTERVAL", default: "250ms", help: "most time between a hive's change at another queen and its arrival here" },
  { name: "peer-ca", type: "string", value: "FILE", env: "APIARY_PEER_CA", help: "CA to verify the other queens with [default: --client-ca]; --tls-cert/--tls-key are this queen's client certificate" },
  { name: "peer-token-file", type: "string", value: "FILE", env: "APIARY_PEER_TOKEN_FILE", help: "admin token for calls to the other queens, where they take tokens rather than client certificates" },
]);

/**
 * What queenClusterOptions reads: the cluster flags and the queen's own TLS files (its client
 * certificate for the other queens). Each may be absent: the defaults of the table apply then.
 */
export type QueenClusterFlags = Partial<Omit<FlagValues<typeof queenClusterFlags>, "help"> & Pick<ServerSecurityFlags, "tls-cert" | "tls-key" | "client-ca">>;

const ETCD_ONLY: (keyof QueenClusterFlags)[] = ["etcd-ca", "etcd-cert", "etcd-key", "etcd-user", "etcd-password-file", "queen-id", "advertise-url", "peer-ca", "peer-token-file"];

/** A secret from a file (one line; the trailing newline dropped). */
function readSecret(flag: string, file: string): string {
  try {
    return readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw new UsageError(`--${flag} ${file}: ${(err as Error).message}`);
  }
}

/**
 * Reads queenClusterFlags into startQueen options (a store built from them); {} without --etcd.
 * The etcd client (and etcd's generated descriptors) load only with --etcd: every other command starts without them.
 */
export async function queenClusterOptions(flags: QueenClusterFlags): Promise<
  Pick<StartQueenOptions, "clusterStore" | "queenId" | "advertiseUrl" | "leaseTtlMs" | "peerFlushIntervalMs" | "peerCredentials">
> {
  const str = (name: keyof QueenClusterFlags): string | undefined => flags[name];
  const etcd = str("etcd");
  if (etcd === undefined) {
    const stray = ETCD_ONLY.find((name) => str(name) !== undefined);
    if (stray) throw new UsageError(`--${stray} needs --etcd (several queens)`);
    return {};
  }
  const ca = str("etcd-ca");
  const cert = str("etcd-cert");
  const key = str("etcd-key");
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--etcd-cert and --etcd-key go together");
  const user = str("etcd-user");
  const passwordFile = str("etcd-password-file");
  if ((user === undefined) !== (passwordFile === undefined)) throw new UsageError("--etcd-user and --etcd-password-file go together");
  const password = passwordFile !== undefined ? readSecret("etcd-password-file", passwordFile) : "";
  const peerTokenFile = str("peer-token-file");
  const peerToken = peerTokenFile !== undefined ? readSecret("peer-token-file", peerTokenFile) : undefined;
  const [{ parseEndpoints }, { EtcdClusterStore }] = await Promise.all([import("../../etcd/etcd-client.js"), import("../../queen/cluster/etcd-cluster-store.js")]);
  let endpoints: string[];
  try {
    endpoints = parseEndpoints(etcd, ca !== undefined || cert !== undefined);
  } catch (err) {
    throw new UsageError(`--etcd: ${(err as Error).message}`);
  }
  const prefix = str("etcd-prefix") ?? "/apiary/";
  if (!prefix.endsWith("/")) throw new UsageError(`--etcd-prefix ${prefix}: must end with "/"`);
  const leaseTtlMs = durationFlag("lease-ttl", str("lease-ttl") ?? "10s")!;
  if (leaseTtlMs < 1_000) throw new UsageError(`--lease-ttl ${str("lease-ttl")}: must be at least 1s`);
  const peerFlushIntervalMs = durationFlag("peer-flush-interval", str("peer-flush-interval") ?? "250ms")!;
  if (!(peerFlushIntervalMs > 0)) throw new UsageError("--peer-flush-interval: must be positive");
  const advertiseUrl = str("advertise-url");
  if (advertiseUrl !== undefined && !/^https?:\/\/[^/]+$/.test(advertiseUrl)) throw new UsageError(`--advertise-url ${advertiseUrl}: expected http(s)://host:port`);
  const tlsCert = str("tls-cert");
  const tlsKey = str("tls-key");
  const peerCa = str("peer-ca") ?? str("client-ca");
  const store = EtcdClusterStore.connect(
    {
      endpoints,
      ...(ca || cert ? { tls: { ...(ca ? { caFile: ca } : {}), ...(cert && key ? { certFile: cert, keyFile: key } : {}) } } : {}),
      ...(user !== undefined ? { auth: { username: user, password } } : {}),
    },
    { prefix },
  );
  return {
    clusterStore: store,
    ...(str("queen-id") !== undefined ? { queenId: str("queen-id") } : {}),
    ...(advertiseUrl !== undefined ? { advertiseUrl } : {}),
    leaseTtlMs,
    peerFlushIntervalMs,
    ...(peerCa || tlsCert || peerToken
      ? {
          peerCredentials: {
            ...(peerCa ? { caFile: peerCa } : {}),
            ...(tlsCert && tlsKey ? { certFile: tlsCert, keyFile: tlsKey } : {}),
            ...(peerToken ? { token: peerToken } : {}),
          },
        }
      : {}),
  };
}
