import { ConnectError, Code } from "@connectrpc/connect";
import { Compare_CompareResult, Compare_CompareTarget, type TxnResponse } from "../../../gen/etcd/etcdserver/etcdserverpb/rpc_pb.js";
import { Event_EventType, type KeyValue } from "../../../gen/etcd/mvcc/mvccpb/kv_pb.js";
import { EtcdClient, type EtcdClientOptions, type EtcdCounters, type TxnInit } from "../../etcd/etcd-client.js";
import { EtcdClosedError, EtcdCompactedError, EtcdUnavailableError } from "../../etcd/etcd-errors.js";
import { LeaseKeeper } from "../../etcd/etcd-lease-keeper.js";
import { EtcdWatch } from "../../etcd/etcd-watch.js";
import { bytes, text } from "../../etcd/key-range.js";
import { decodeHive, decodeQueen, encodeHive, encodeQueen } from "./cluster-value-codec.js";
import {
  SessionLeaseGoneError,
  StoreCompactedError,
  StoreUnavailableError,
  type ClusterChange,
  type ClusterSnapshot,
  type ClusterStore,
  type ClusterWatch,
  type ClusterWatchHandlers,
  type HiveMembership,
  type QueenMember,
  type QueenSession,
  type Revisioned,
  type WriteOutcome,
} from "./cluster-store.js";

export interface EtcdClusterStoreOptions {
  /** Key prefix of this cluster; default "/apiary/". */
  prefix?: string;
  /** The local lease deadline's margin inside the TTL; default min(1 s, TTL/5). */
  leaseMarginMs?: number;
  /** How long a watch may fail in a row before onError(StoreUnavailableError); default 30 s. */
  watchRetryBudgetMs?: number;
}

type Parsed = { kind: "queen" | "owner" | "hive"; id: string };

/**
 * The cluster store on etcd. Each write is one Txn; owner writes compare the owner key's value and
 * lease (the fence), so a queen whose lease is gone can never overwrite the queen that took over.
 */
export class EtcdClusterStore implements ClusterStore {
  readonly prefix: string;
  private readonly watches = new Set<EtcdWatch>();
  private readonly sessions = new Set<EtcdQueenSession>();

  constructor(
    readonly client: EtcdClient,
    private readonly options: EtcdClusterStoreOptions = {},
    private readonly ownsClient = false,
  ) {
    this.prefix = options.prefix ?? "/apiary/";
    if (!this.prefix.endsWith("/")) throw new Error(`etcd prefix "${this.prefix}" must end with "/"`);
  }

  /** A store with its own client (closed with the store). */
  static connect(client: EtcdClientOptions, options: EtcdClusterStoreOptions = {}): EtcdClusterStore {
    return new EtcdClusterStore(new EtcdClient(client), options, true);
  }

  /** KV writes and keep-alives issued, for the write budget. */
  get counters(): Readonly<EtcdCounters> {
    return this.client.counters;
  }

  key(kind: Parsed["kind"], id: string): string {
    return `${this.prefix}${kind === "queen" ? "queens" : kind === "owner" ? "owners" : "hives"}/${id}`;
  }

  async openSession(member: QueenMember, ttlMs: number): Promise<QueenSession> {
    if (!(ttlMs >= 1000)) throw new RangeError(`etcd lease TTL must be at least 1000 ms, got ${ttlMs}`);
    const grantSentAt = performance.now();
    const grant = await this.guard(() => this.client.leaseGrant(Math.ceil(ttlMs / 1000)));
    const session = new EtcdQueenSession(this, member.queenId, grant.ID, Number(grant.TTL) * 1000, grantSentAt, this.options.leaseMarginMs);
    try {
      await this.guard(() => this.client.put(this.key("queen", member.queenId), encodeQueen(member), grant.ID));
    } catch (err) {
      await session.close().catch(() => {});
      throw err;
    }
    this.sessions.add(session);
    return session;
  }

  async list(): Promise<ClusterSnapshot> {
    const res = await this.guard(() => this.client.range(this.prefix, { prefix: true }));
    const queens = new Map<string, Revisioned<QueenMember>>();
    const owners = new Map<string, Revisioned<string>>();
    const hives = new Map<string, Revisioned<HiveMembership>>();
    for (const kv of res.kvs) {
      const p = this.parse(kv.key);
      if (p === undefined) continue;
      const modRevision = Number(kv.modRevision);
      if (p.kind === "queen") queens.set(p.id, { value: decodeQueen(p.id, kv.value), modRevision });
      else if (p.kind === "owner") owners.set(p.id, { value: text(kv.value), modRevision });
      else hives.set(p.id, { value: decodeHive(p.id, kv.value), modRevision });
    }
    return { revision: Number(res.header?.revision ?? 0n), queens, owners, hives };
  }

  watch(afterRevision: number, handlers: ClusterWatchHandlers): ClusterWatch {
    const w: EtcdWatch = new EtcdWatch(
      this.client,
      { prefix: this.prefix, startRevision: afterRevision + 1, retryBudgetMs: this.options.watchRetryBudgetMs },
      {
        onEvents: (revision, events) => {
          const changes: ClusterChange[] = [];
          for (const ev of events) {
            const c = ev.kv && this.toChange(ev.type, ev.kv);
            if (c) changes.push(c);
          }
          changes.sort((a, b) => compareKeys(this.key(a.kind, idOf(a)), this.key(b.kind, idOf(b))));
          if (changes.length > 0) handlers.onChanges(revision, changes);
        },
        onError: (err) => {
          this.watches.delete(w);
          handlers.onError(err instanceof EtcdCompactedError ? new StoreCompactedError(err.compactRevision) : new StoreUnavailableError(err.message, { cause: err }));
        },
      },
    );
    this.watches.add(w);
    return {
      close: () => {
        this.watches.delete(w);
        w.close();
      },
    };
  }

  async writeOrphan(hiveId: string, expectedModRevision: number, value: HiveMembership | undefined): Promise<WriteOutcome> {
    const ownerKey = bytes(this.key("owner", hiveId));
    const hiveKey = bytes(this.key("hive", hiveId));
    const write: TxnInit["success"] =
      value === undefined
        ? [{ request: { case: "requestDeleteRange", value: { key: hiveKey } } }]
        : [{ request: { case: "requestPut", value: { key: hiveKey, value: encodeHive(value) } } }];
    return this.fencedTxn(hiveId, {
      compare: [
        { key: ownerKey, target: Compare_CompareTarget.CREATE, result: Compare_CompareResult.EQUAL, targetUnion: { case: "createRevision", value: 0n } },
        { key: hiveKey, target: Compare_CompareTarget.MOD, result: Compare_CompareResult.EQUAL, targetUnion: { case: "modRevision", value: BigInt(expectedModRevision) } },
      ],
      success: write,
    });
  }

  async close(): Promise<void> {
    for (const w of this.watches) w.close();
    this.watches.clear();
    for (const s of this.sessions) s.stopKeepAlive();
    if (this.ownsClient) await this.client.close();
  }

  /** @internal One conditional Txn; on a failed compare, reads the hive's owner and membership in the same Txn. */
  async fencedTxn(hiveId: string, req: Pick<TxnInit, "compare" | "success">, queenId?: string): Promise<WriteOutcome> {
    const ownerKey = bytes(this.key("owner", hiveId));
    const hiveKey = bytes(this.key("hive", hiveId));
    let res: TxnResponse;
    try {
      res = await this.guard(() =>
        this.client.txn({
          ...req,
          failure: [{ request: { case: "requestRange", value: { key: ownerKey } } }, { request: { case: "requestRange", value: { key: hiveKey } } }],
        }),
      );
    } catch (err) {
      if (queenId !== undefined && ConnectError.from(err).rawMessage.includes("requested lease not found")) throw new SessionLeaseGoneError(queenId);
      throw err;
    }
    const revision = Number(res.header?.revision ?? 0n);
    if (res.succeeded) return { ok: true, revision };
    const first = (i: number): KeyValue | undefined => {
      const r = res.responses[i]?.response;
      return r?.case === "responseRange" ? r.value.kvs[0] : undefined;
    };
    const owner = first(0);
    const hive = first(1);
    return {
      ok: false,
      currentOwner: owner && { value: text(owner.value), modRevision: Number(owner.modRevision) },
      currentHive: hive && { value: decodeHive(hiveId, hive.value), modRevision: Number(hive.modRevision) },
    };
  }

  /** @internal */
  forget(session: EtcdQueenSession): void {
    this.sessions.delete(session);
  }

  /** @internal Maps the client's failures to the store's: unreachable → StoreUnavailableError. */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof EtcdUnavailableError || err instanceof EtcdClosedError) throw new StoreUnavailableError(err.message, { cause: err });
      const ce = ConnectError.from(err);
      if (ce.code === Code.Unavailable || ce.code === Code.DeadlineExceeded) throw new StoreUnavailableError(ce.message, { cause: err });
      throw err;
    }
  }

  private parse(key: Uint8Array): Parsed | undefined {
    const k = text(key);
    if (!k.startsWith(this.prefix)) return undefined;
    const rest = k.slice(this.prefix.length);
    const slash = rest.indexOf("/");
    if (slash < 0) return undefined;
    const dir = rest.slice(0, slash);
    const id = rest.slice(slash + 1);
    if (id === "") return undefined;
    if (dir === "queens") return { kind: "queen", id };
    if (dir === "owners") return { kind: "owner", id };
    if (dir === "hives") return { kind: "hive", id };
    return undefined;
  }

  private toChange(type: Event_EventType, kv: KeyValue): ClusterChange | undefined {
    const p = this.parse(kv.key);
    if (p === undefined) return undefined;
    const modRevision = Number(kv.modRevision);
    const put = type === Event_EventType.PUT;
    if (p.kind === "queen") return { kind: "queen", queenId: p.id, value: put ? decodeQueen(p.id, kv.value) : undefined, modRevision };
    if (p.kind === "owner") return { kind: "owner", hiveId: p.id, value: put ? text(kv.value) : undefined, modRevision };
    return { kind: "hive", hiveId: p.id, value: put ? decodeHive(p.id, kv.value) : undefined, modRevision };
  }
}

function idOf(c: ClusterChange): string {
  return c.kind === "queen" ? c.queenId : c.hiveId;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

class EtcdQueenSession implements QueenSession {
  private readonly abort = new AbortController();
  private readonly keeper: LeaseKeeper;
  private closed = false;
  readonly lost = this.abort.signal;

  constructor(
    private readonly store: EtcdClusterStore,
    readonly queenId: string,
    readonly leaseId: bigint,
    ttlMs: number,
    grantSentAt: number,
    marginMs: number | undefined,
  ) {
    this.keeper = new LeaseKeeper(store.client, {
      id: leaseId,
      ttlMs,
      grantSentAt,
      ...(marginMs !== undefined ? { marginMs } : {}),
      onLost: (reason) => this.abort.abort(reason),
    });
  }

  async claimHive(value: HiveMembership, expectedOwnerModRevision: number): Promise<WriteOutcome> {
    this.assertHeld();
    const ownerKey = bytes(this.store.key("owner", value.hiveId));
    const encoded = encodeHive(value);
    return this.store.fencedTxn(
      value.hiveId,
      {
        compare: [
          { key: ownerKey, target: Compare_CompareTarget.MOD, result: Compare_CompareResult.EQUAL, targetUnion: { case: "modRevision", value: BigInt(expectedOwnerModRevision) } },
        ],
        success: [
          { request: { case: "requestPut", value: { key: ownerKey, value: bytes(this.queenId), lease: this.leaseId } } },
          { request: { case: "requestPut", value: { key: bytes(this.store.key("hive", value.hiveId)), value: encoded } } },
        ],
      },
      this.queenId,
    );
  }

  /** Not refused locally once `lost`: the fence decides (etcd may still hold the lease). */
  async updateHive(value: HiveMembership): Promise<WriteOutcome> {
    return this.store.fencedTxn(
      value.hiveId,
      { compare: this.fence(value.hiveId), success: [{ request: { case: "requestPut", value: { key: bytes(this.store.key("hive", value.hiveId)), value: encodeHive(value) } } }] },
      this.queenId,
    );
  }

  async removeHive(hiveId: string): Promise<WriteOutcome> {
    return this.store.fencedTxn(
      hiveId,
      {
        compare: this.fence(hiveId),
        success: [
          { request: { case: "requestDeleteRange", value: { key: bytes(this.store.key("hive", hiveId)) } } },
          { request: { case: "requestDeleteRange", value: { key: bytes(this.store.key("owner", hiveId)) } } },
        ],
      },
      this.queenId,
    );
  }

  /** Revokes the lease (its keys go in one transaction); `lost` aborts as well, the session being over. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.keeper.stop();
    this.store.forget(this);
    try {
      await this.store.guard(() => this.store.client.leaseRevoke(this.leaseId));
    } catch (err) {
      if (ConnectError.from(err).code !== Code.NotFound) throw err;
    } finally {
      this.abort.abort(new Error(`session of queen ${this.queenId} closed`));
    }
  }

  /** @internal */
  stopKeepAlive(): void {
    this.keeper.stop();
  }

  /** owner key == my id, attached to my lease. */
  private fence(hiveId: string): TxnInit["compare"] {
    const ownerKey = bytes(this.store.key("owner", hiveId));
    return [
      { key: ownerKey, target: Compare_CompareTarget.VALUE, result: Compare_CompareResult.EQUAL, targetUnion: { case: "value", value: bytes(this.queenId) } },
      { key: ownerKey, target: Compare_CompareTarget.LEASE, result: Compare_CompareResult.EQUAL, targetUnion: { case: "lease", value: this.leaseId } },
    ];
  }

  private assertHeld(): void {
    if (this.lost.aborted) throw new SessionLeaseGoneError(this.queenId);
  }
}
