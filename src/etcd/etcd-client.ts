import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type CallOptions, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  Auth,
  Cluster,
  KV,
  Lease,
  Maintenance,
  Watch,
  type DeleteRangeResponse,
  type LeaseGrantResponse,
  type LeaseTimeToLiveResponse,
  type MemberListResponse,
  type PutResponse,
  type RangeResponse,
  type StatusResponse,
  type TxnRequestSchema,
  type TxnResponse,
} from "../../gen/etcd/etcdserver/etcdserverpb/rpc_pb.js";
import { Backoff } from "../common/backoff.js";
import { clientTlsOptions, wantsTls, type ClientCredentials } from "../rpc/tls/client-credentials.js";
import { isLoopbackHost } from "../rpc/tls/listen-safety.js";
import { pause } from "../common/wait.js";
import { EtcdClosedError, EtcdUnavailableError, isRetryable, isTokenRejected } from "./etcd-errors.js";
import { bytes, prefixEnd } from "./key-range.js";

export interface EtcdClientOptions {
  /** Client URLs of the members, e.g. ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]. */
  endpoints: readonly string[];
  /** CA to verify members with, client certificate and key (https:// endpoints). */
  tls?: Pick<ClientCredentials, "ca" | "caFile" | "cert" | "certFile" | "key" | "keyFile" | "serverName">;
  /** etcd user (Auth/Authenticate); its token goes with every call. */
  auth?: { username: string; password: string };
  /** Deadline of one attempt of a unary call; default 5 s. */
  callTimeoutMs?: number;
  /** How long a call keeps trying members before EtcdUnavailableError; default 10 s. */
  retryBudgetMs?: number;
  /** Backoff between tries; default 50 ms doubling up to 1 s, with full jitter. */
  backoff?: { baseMs: number; capMs: number };
  /**
   * HTTP/2 PING interval and timeout while streams are open: a stopped or cut-off member is noticed
   * within their sum. Default 6 s and 2 s: etcd answers pings closer than --grpc-keepalive-min-time
   * (default 5 s) apart with GOAWAY, and pings on idle connections always, so idle ones are not pinged.
   */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
}

/** The gRPC services of one member. */
export interface EtcdServices {
  readonly kv: Client<typeof KV>;
  readonly lease: Client<typeof Lease>;
  readonly watch: Client<typeof Watch>;
  readonly cluster: Client<typeof Cluster>;
  readonly maintenance: Client<typeof Maintenance>;
  readonly auth: Client<typeof Auth>;
}

interface Endpoint {
  readonly url: string;
  readonly services: EtcdServices;
  readonly sessions: Http2SessionManager;
}

/** What the client has issued, for the write budget ("etcd writes per hive per 10 s"). */
export interface EtcdCounters {
  /** Put, DeleteRange and Txn calls that carry a put or delete. */
  kvWrites: number;
  /** Lease keep-alive requests sent. */
  keepAlives: number;
  /** Switches to another member after a failure. */
  failovers: number;
}

export type TxnInit = MessageInitShape<typeof TxnRequestSchema>;

/** Splits "http://a:2379,http://b:2379" into URLs; a bare host:port gets http:// (https:// with TLS). */
export function parseEndpoints(list: string, secure = false): string[] {
  const urls = list
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((s) => (/^[a-z]+:\/\//i.test(s) ? s : `${secure ? "https" : "http"}://${s}`).replace(/\/+$/, ""));
  if (urls.length === 0) throw new Error(`etcd endpoints: none given in "${list}"`);
  for (const u of urls) {
    const p = new URL(u).protocol;
    if (p !== "http:" && p !== "https:") throw new Error(`etcd endpoint ${u}: scheme must be http or https`);
  }
  return urls;
}

/**
 * etcd's v3 gRPC API over connect-node: one HTTP/2 connection per member, calls on the member in
 * use, and on UNAVAILABLE, a deadline, or a leader change the next member after a backoff, until the
 * retry budget is spent. Streams (watch, keep-alive) are built on services() by their owners.
 */
export class EtcdClient {
  readonly counters: EtcdCounters = { kvWrites: 0, keepAlives: 0, failovers: 0 };
  readonly callTimeoutMs: number;
  readonly retryBudgetMs: number;
  private readonly endpoints: Endpoint[];
  private readonly closer = new AbortController();
  private readonly backoffOptions: { baseMs: number; capMs: number };
  private current = 0;
  private token: string | undefined;
  private authenticating: Promise<string> | undefined;

  constructor(private readonly options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new Error("etcd client: no endpoints");
    this.callTimeoutMs = options.callTimeoutMs ?? 5_000;
    this.retryBudgetMs = options.retryBudgetMs ?? 10_000;
    this.backoffOptions = options.backoff ?? { baseMs: 50, capMs: 1_000 };
    const tls = options.tls && wantsTls(options.tls) ? clientTlsOptions(options.tls) : undefined;
    this.endpoints = options.endpoints.map((url) => {
      if (url.startsWith("http:") && tls) throw new Error(`etcd endpoint ${url}: TLS settings given for a plaintext http:// URL; use https://`);
      if (url.startsWith("http:") && options.auth && !isLoopbackHost(new URL(url).hostname)) {
        throw new Error(`etcd endpoint ${url}: refusing to send the password of etcd user ${options.auth.username} over plaintext http:// beyond loopback; use https:// (--etcd-ca)`);
      }
      const sessions = new Http2SessionManager(
        url,
        { pingIntervalMs: options.pingIntervalMs ?? 6_000, pingTimeoutMs: options.pingTimeoutMs ?? 2_000, pingIdleConnection: false },
        url.startsWith("https:") ? (tls ?? {}) : {},
      );
      const transport = createGrpcTransport({ baseUrl: url, sessionManager: sessions, acceptCompression: [] });
      const services: EtcdServices = {
        kv: createClient(KV, transport),
        lease: createClient(Lease, transport),
        watch: createClient(Watch, transport),
        cluster: createClient(Cluster, transport),
        maintenance: createClient(Maintenance, transport),
        auth: createClient(Auth, transport),
      };
      return { url, services, sessions };
    });
  }

  /** Aborted by close(): every call and stream of this client ends. */
  get closed(): AbortSignal {
    return this.closer.signal;
  }

  /** The URL of the member in use. */
  get endpoint(): string {
    return this.endpoints[this.current]!.url;
  }

  newBackoff(): Backoff {
    return new Backoff(this.backoffOptions);
  }

  /** The member in use, and headers (auth token, require-leader) for a stream on it. */
  async streamTarget(): Promise<{ url: string; services: EtcdServices; headers: Record<string, string> }> {
    const ep = this.endpoints[this.current]!;
    const headers = { ...(await this.authHeaders(ep)), hasleader: "true" };
    return { url: ep.url, services: ep.services, headers };
  }

  /** After a failure on `url`, later calls and streams go to the next member. */
  failover(url: string): void {
    if (this.endpoints[this.current]!.url !== url || this.endpoints.length === 1) return;
    this.current = (this.current + 1) % this.endpoints.length;
    this.counters.failovers += 1;
  }

  /** Forgets the auth token (it was rejected); the next call authenticates again. */
  dropToken(): void {
    this.token = undefined;
  }

  /**
   * One unary call with failover: each attempt has a deadline, retryable failures move to the next
   * member after a backoff, a rejected token is renewed once; EtcdUnavailableError after the budget.
   */
  async call<T>(what: string, fn: (s: EtcdServices, opts: CallOptions) => Promise<T>): Promise<T> {
    const deadline = performance.now() + this.retryBudgetMs;
    const backoff = this.newBackoff();
    let renewed = false;
    let lastError: unknown;
    for (;;) {
      if (this.closer.signal.aborted) throw new EtcdClosedError();
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        throw new EtcdUnavailableError(`etcd ${what}: no member answered within ${this.retryBudgetMs} ms (last: ${describe(lastError)})`, { cause: lastError });
      }
      const ep = this.endpoints[this.current]!;
      try {
        const headers = await this.authHeaders(ep);
        return await fn(ep.services, { timeoutMs: Math.max(1, Math.floor(Math.min(this.callTimeoutMs, remaining))), signal: this.closer.signal, headers });
      } catch (err) {
        if (this.closer.signal.aborted) throw new EtcdClosedError();
        if (this.options.auth && !renewed && isTokenRejected(err)) {
          renewed = true;
          this.dropToken();
          continue;
        }
        if (!isRetryable(err)) throw err;
        lastError = err;
        this.failover(ep.url);
        await pause(Math.min(backoff.next(), Math.max(0, deadline - performance.now())), this.closer.signal);
      }
    }
  }

  range(key: string, opts: { prefix?: boolean; revision?: number; limit?: number; serializable?: boolean } = {}): Promise<RangeResponse> {
    const k = bytes(key);
    return this.call("Range", (s, o) =>
      s.kv.range(
        {
          key: k,
          rangeEnd: opts.prefix ? prefixEnd(k) : new Uint8Array(),
          revision: BigInt(opts.revision ?? 0),
          limit: BigInt(opts.limit ?? 0),
          serializable: opts.serializable ?? false,
        },
        o,
      ),
    );
  }

  put(key: string, value: Uint8Array | string, lease = 0n): Promise<PutResponse> {
    this.counters.kvWrites += 1;
    const v = typeof value === "string" ? bytes(value) : value;
    return this.call("Put", (s, o) => s.kv.put({ key: bytes(key), value: v, lease }, o));
  }

  deleteRange(key: string, opts: { prefix?: boolean } = {}): Promise<DeleteRangeResponse> {
    this.counters.kvWrites += 1;
    const k = bytes(key);
    return this.call("DeleteRange", (s, o) => s.kv.deleteRange({ key: k, rangeEnd: opts.prefix ? prefixEnd(k) : new Uint8Array() }, o));
  }

  txn(req: TxnInit): Promise<TxnResponse> {
    const writes = (ops: TxnInit["success"]) => (ops ?? []).some((op) => op.request?.case === "requestPut" || op.request?.case === "requestDeleteRange");
    if (writes(req.success) || writes(req.failure)) this.counters.kvWrites += 1;
    return this.call("Txn", (s, o) => s.kv.txn(req, o));
  }

  async compact(revision: number, physical = false): Promise<void> {
    await this.call("Compact", (s, o) => s.kv.compact({ revision: BigInt(revision), physical }, o));
  }

  leaseGrant(ttlSeconds: number): Promise<LeaseGrantResponse> {
    return this.call("LeaseGrant", (s, o) => s.lease.leaseGrant({ TTL: BigInt(ttlSeconds), ID: 0n }, o));
  }

  async leaseRevoke(id: bigint): Promise<void> {
    await this.call("LeaseRevoke", (s, o) => s.lease.leaseRevoke({ ID: id }, o));
  }

  leaseTimeToLive(id: bigint, keys = false): Promise<LeaseTimeToLiveResponse> {
    return this.call("LeaseTimeToLive", (s, o) => s.lease.leaseTimeToLive({ ID: id, keys }, o));
  }

  memberList(): Promise<MemberListResponse> {
    return this.call("MemberList", (s, o) => s.cluster.memberList({}, o));
  }

  /** Status of the member in use (its id, the leader's id, the revision). */
  status(): Promise<StatusResponse> {
    return this.call("Status", (s, o) => s.maintenance.status({}, o));
  }

  /** Ends every call and stream and closes the connections. */
  async close(): Promise<void> {
    if (this.closer.signal.aborted) return;
    this.closer.abort(new EtcdClosedError());
    for (const ep of this.endpoints) ep.sessions.abort();
  }

  private async authHeaders(ep: Endpoint): Promise<Record<string, string>> {
    const auth = this.options.auth;
    if (!auth) return {};
    if (this.token === undefined) {
      this.authenticating ??= ep.services.auth
        .authenticate({ name: auth.username, password: auth.password }, { timeoutMs: this.callTimeoutMs, signal: this.closer.signal })
        .then((r) => r.token)
        .finally(() => (this.authenticating = undefined));
      this.token = await this.authenticating;
    }
    return { token: this.token };
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err ?? "none");
}
