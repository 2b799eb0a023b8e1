import type { MessageInitShape } from "@bufbuild/protobuf";
import type { LeaseKeepAliveRequestSchema } from "../../gen/etcd/etcdserver/etcdserverpb/rpc_pb.js";
import type { EtcdClient } from "./etcd-client.js";
import { isTokenRejected } from "./etcd-errors.js";
import { PushQueue } from "../common/push-queue.js";

export interface LeaseKeeperOptions {
  id: bigint;
  /** The TTL etcd granted. */
  ttlMs: number;
  /** performance.now() just before the grant was sent: the lease cannot have started earlier. */
  grantSentAt: number;
  /** The local deadline stays this far inside the TTL (clock rate differences, scheduling); default min(1 s, TTL/5). */
  marginMs?: number;
  /** Called once: etcd answered TTL ≤ 0, or no keep-alive was answered before the local deadline. */
  onLost(reason: Error): void;
}

type KeepAliveInit = MessageInitShape<typeof LeaseKeepAliveRequestSchema>;

/**
 * Keeps one lease alive over a LeaseKeepAlive stream: a request every TTL/3, the stream reopened on
 * the next member when it breaks. The lease counts as lost on its own, without etcd's word, when no
 * answer came before (time the answered request was sent) + TTL − margin, by the local monotonic
 * clock: etcd expires the lease no earlier than TTL after it received that request, so a cut-off
 * queen knows it lost its lease before any other queen can take its hives.
 */
export class LeaseKeeper {
  private deadline: number;
  private readonly margin: number;
  private readonly tick: NodeJS.Timeout;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private stream: { requests: PushQueue<KeepAliveInit>; sent: number[]; abort: AbortController } | undefined;
  private stopped = false;
  /** Keep-alives answered with TTL > 0. */
  renewals = 0;

  constructor(
    private readonly client: EtcdClient,
    private readonly options: LeaseKeeperOptions,
  ) {
    this.margin = options.marginMs ?? Math.min(1_000, options.ttlMs / 5);
    this.deadline = options.grantSentAt + options.ttlMs - this.margin;
    this.armDeadline();
    this.tick = setInterval(() => this.sendKeepAlive(), Math.max(10, Math.floor(options.ttlMs / 3)));
    this.sendKeepAlive();
  }

  /** Stops keeping the lease alive (it expires on etcd's side unless revoked). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tick);
    clearTimeout(this.deadlineTimer);
    this.closeStream();
  }

  private sendKeepAlive(): void {
    if (this.stopped) return;
    if (this.stream === undefined) this.openStream();
    const s = this.stream!;
    if (s.sent.length >= 8) s.sent.shift(); // unanswered ones: the deadline speaks for them
    s.sent.push(performance.now());
    s.requests.push({ ID: this.options.id });
    this.client.counters.keepAlives += 1;
  }

  private openStream(): void {
    const requests = new PushQueue<KeepAliveInit>({ limit: 8, overflow: "drop-oldest" });
    const abort = new AbortController();
    const s = { requests, sent: [] as number[], abort };
    this.stream = s;
    void (async () => {
      let url: string | undefined;
      try {
        const target = await this.client.streamTarget();
        url = target.url;
        const signal = AbortSignal.any([abort.signal, this.client.closed]);
        for await (const resp of target.services.lease.leaseKeepAlive(requests, { signal, headers: target.headers })) {
          const sentAt = s.sent.shift() ?? performance.now();
          if (resp.TTL <= 0n) return this.lose(new Error(`etcd lease ${this.options.id.toString(16)} expired (keep-alive answered TTL ${resp.TTL})`));
          this.renewals += 1;
          this.deadline = Math.max(this.deadline, sentAt + Number(resp.TTL) * 1000 - this.margin);
          this.armDeadline();
        }
      } catch (err) {
        if (isTokenRejected(err)) this.client.dropToken();
        if (url !== undefined && !this.stopped) this.client.failover(url);
      } finally {
        requests.end();
        if (this.stream === s) this.stream = undefined;
      }
    })();
  }

  private closeStream(): void {
    this.stream?.requests.end();
    this.stream?.abort.abort();
    this.stream = undefined;
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    if (this.stopped) return;
    this.deadlineTimer = setTimeout(
      () => this.lose(new Error(`etcd lease ${this.options.id.toString(16)}: no keep-alive answered before the local deadline`)),
      Math.max(0, this.deadline - performance.now()),
    );
  }

  private lose(reason: Error): void {
    if (this.stopped) return;
    this.stop();
    this.options.onLost(reason);
  }
}
