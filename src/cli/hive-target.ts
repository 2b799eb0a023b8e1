import { Code, ConnectError } from "@connectrpc/connect";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { CliError } from "./command.js";
import { connect, rpcFailure, type ConnectionFlags } from "./rpc-client.js";
import type { HiveAddress } from "./token-destination.js";

/** A hive to call: its HiveService address and, when the queen told it, its id (whose SPIFFE ID it must then prove). */
export type HiveTarget = HiveAddress;

/** --hive and --hive-addr (common-flags.ts) beside the connection flags that reach the queen. */
export type HiveTargetFlags = ConnectionFlags & { hive?: string; "hive-addr"?: string };

/**
 * The hive that --hive ID (asked of the queen) or --hive-addr ADDR (direct) names; with neither,
 * the queen's only hive, or `choose` given the queen's hives.
 */
export async function hiveTarget(flags: HiveTargetFlags, choose?: ChooseHive): Promise<HiveTarget> {
  const addr = flags["hive-addr"];
  const id = flags.hive;
  if (addr !== undefined && id !== undefined) throw new CliError("give --hive ID or --hive-addr ADDR, not both");
  if (addr !== undefined) return { address: addr };
  const { client, url, timeoutMs } = await connect(QueenService, flags);
  if (id !== undefined) {
    const res = await client.getHive({ hiveId: id }, { timeoutMs }).catch((err) => {
      if (ConnectError.from(err).code === Code.NotFound) throw new CliError(`the queen at ${url} knows no hive ${id} (see apiary hives)`);
      throw rpcFailure(err, "queen", url);
    });
    return endpointOf(res.hive?.info?.hiveId ?? id, res.hive?.info?.endpoint);
  }
  const res = await client.listHives({ omitWorkers: choose === undefined }, { timeoutMs }).catch((err) => {
    throw rpcFailure(err, "queen", url);
  });
  const hives = res.hives.map((h) => ({ hiveId: h.info?.hiveId ?? "", endpoint: h.info?.endpoint ?? "", workerIds: h.workers.map((w) => w.workerId) }));
  const chosen = choose ? choose(hives, url) : onlyHive(hives, url);
  return endpointOf(chosen.hiveId, chosen.endpoint);
}

export interface KnownHive {
  hiveId: string;
  endpoint: string;
  workerIds: string[];
}
export type ChooseHive = (hives: KnownHive[], queenUrl: string) => KnownHive;

function onlyHive(hives: KnownHive[], url: string): KnownHive {
  if (hives.length === 1) return hives[0];
  if (hives.length === 0) throw new CliError(`the queen at ${url} knows no hive yet`);
  throw new CliError(`the queen at ${url} knows ${hives.length} hives (${hives.map((h) => h.hiveId).join(", ")}): pass --hive ID`);
}

function endpointOf(hiveId: string, endpoint: string | undefined): HiveTarget {
  if (!endpoint) throw new CliError(`hive ${hiveId} told the queen no endpoint: pass --hive-addr`);
  return { address: endpoint, hiveId };
}

/** The hive of a worker: --hive ID or --hive-addr ADDR when given, else the one hive the queen lists with it. */
export function workerHiveTarget(flags: HiveTargetFlags, workerId: string): Promise<HiveTarget> {
  return hiveTarget(flags, (hives, url) => {
    const hits = hives.filter((h) => h.workerIds.includes(workerId));
    if (hits.length === 0) throw new CliError(`no hive known to the queen at ${url} runs a worker ${workerId}`);
    if (hits.length > 1) {
      throw new CliError(`worker ${workerId} exists on several hives (${hits.map((h) => h.hiveId).join(", ")}): pass --hive or HIVE/${workerId}`);
    }
    return hits[0];
  });
}
