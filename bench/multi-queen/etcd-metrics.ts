/** etcd's own counters of what it was asked to do, from /metrics on its client URL (names as etcd 3.4 exports them). */
export interface EtcdWriteCounters {
  /** Keys put (each put of a Put or of a Txn). */
  puts: number;
  /** DeleteRange calls (alone or in a Txn). */
  deletes: number;
  /** Txns of more than one operation (reads included). */
  txns: number;
  /** The store's revision: one per committed write transaction (Put, DeleteRange, or a Txn that changed something). */
  revision: number;
  /** Lease keep-alives answered (etcd_debugging_lease_renewed_total). */
  leaseRenewals: number;
  leaseGrants: number;
}

const NAMES: Record<keyof EtcdWriteCounters, string> = {
  puts: "etcd_mvcc_put_total",
  deletes: "etcd_mvcc_delete_total",
  txns: "etcd_mvcc_txn_total",
  revision: "etcd_debugging_mvcc_current_revision",
  leaseRenewals: "etcd_debugging_lease_renewed_total",
  leaseGrants: "etcd_debugging_lease_granted_total",
};

export async function etcdWriteCounters(address: string): Promise<EtcdWriteCounters> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  const out = {} as EtcdWriteCounters;
  for (const [key, name] of Object.entries(NAMES) as [keyof EtcdWriteCounters, string][]) {
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    if (!m) throw new Error(`etcd at ${address} exports no ${name}`);
    out[key] = Number(m[1]);
  }
  return out;
}

export function counterDelta(a: EtcdWriteCounters, b: EtcdWriteCounters): EtcdWriteCounters {
  const out = {} as EtcdWriteCounters;
  for (const key of Object.keys(NAMES) as (keyof EtcdWriteCounters)[]) out[key] = b[key] - a[key];
  return out;
}
