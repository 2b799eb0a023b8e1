import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchRequestSchema } from "../../gen/etcd/etcdserver/etcdserverpb/rpc_pb.js";
import type { Event } from "../../gen/etcd/mvcc/mvccpb/kv_pb.js";
import { pause } from "../common/wait.js";
import type { EtcdClient } from "./etcd-client.js";
import { EtcdCompactedError, EtcdUnavailableError, isTokenRejected } from "./etcd-errors.js";
import { bytes, prefixEnd } from "./key-range.js";
import { PushQueue } from "../common/push-queue.js";

export interface EtcdWatchHandlers {
  /** The events of one revision (one transaction), in key order as etcd sends them. */
  onEvents(revision: number, events: readonly Event[]): void;
  /** EtcdCompactedError, EtcdUnavailableError after the retry budget, or a refusal (permission). At most once. */
  onError(err: Error): void;
}

export interface EtcdWatchOptions {
  /** Every key under this prefix. */
  prefix: string;
  /** The first revision wanted. */
  startRevision: number;
  /** How long the watch may fail in a row (every member tried) before onError; default 30 s. */
  retryBudgetMs?: number;
}

type WatchRequestInit = MessageInitShape<typeof WatchRequestSchema>;

class StreamEnded extends Error {}

/**
 * A watch on a prefix that survives broken streams: it restarts, on the next member after a backoff,
 * from the revision after the last one delivered, so no change is lost or repeated. Progress
 * notifications move that revision on while nothing changes. Requires a leader ("hasleader"), so a
 * member cut off from the quorum cancels it and the watch moves on.
 */
export class EtcdWatch {
  private next: number;
  private readonly stop = new AbortController();
  private readonly key: Uint8Array;
  private readonly budgetMs: number;
  private done = false;
  /** Streams opened (1 + restarts). */
  streams = 0;

  constructor(
    private readonly client: EtcdClient,
    options: EtcdWatchOptions,
    private readonly handlers: EtcdWatchHandlers,
  ) {
    this.next = options.startRevision;
    this.key = bytes(options.prefix);
    this.budgetMs = options.retryBudgetMs ?? 30_000;
    void this.run();
  }

  /** The next revision this watch will deliver. */
  get nextRevision(): number {
    return this.next;
  }

  close(): void {
    this.done = true;
    this.stop.abort();
  }

  private async run(): Promise<void> {
    const backoff = this.client.newBackoff();
    let failingSince: number | undefined;
    const signal = AbortSignal.any([this.stop.signal, this.client.closed]);
    while (!this.done && !signal.aborted) {
      let url: string | undefined;
      try {
        const target = await this.client.streamTarget();
        url = target.url;
        const requests = new PushQueue<WatchRequestInit>({ limit: 4, overflow: "drop-oldest" });
        const create: WatchRequestInit = {
          requestUnion: {
            case: "createRequest",
            value: { key: this.key, rangeEnd: prefixEnd(this.key), startRevision: BigInt(this.next), progressNotify: true },
          },
        };
        requests.push(create);
        this.streams += 1;
        try {
          for await (const resp of target.services.watch.watch(requests, { signal, headers: target.headers })) {
            if (resp.compactRevision > 0n) return this.fail(new EtcdCompactedError(Number(resp.compactRevision)));
            if (resp.canceled) throw new ConnectError(`watch canceled: ${resp.cancelReason}`, Code.Unavailable);
            if (resp.created) {
              backoff.reset();
              failingSince = undefined;
            }
            if (resp.events.length === 0) {
              const at = Number(resp.header?.revision ?? 0n);
              if (!resp.created && at + 1 > this.next) this.next = at + 1;
              continue;
            }
            this.deliver(resp.events);
            if (this.done) return;
          }
        } finally {
          requests.end();
        }
        throw new StreamEnded("watch stream ended");
      } catch (err) {
        if (this.done || signal.aborted) return;
        const ce = ConnectError.from(err);
        if (ce.code === Code.PermissionDenied || (ce.code === Code.InvalidArgument && !isTokenRejected(err))) return this.fail(ce);
        if (isTokenRejected(err)) this.client.dropToken();
        failingSince ??= performance.now();
        if (performance.now() - failingSince > this.budgetMs) {
          return this.fail(new EtcdUnavailableError(`etcd watch: no member served it for ${this.budgetMs} ms (last: ${ce.message})`, { cause: err }));
        }
        if (url !== undefined) this.client.failover(url);
        await pause(backoff.next(), signal);
      }
    }
  }

  private deliver(events: readonly Event[]): void {
    let i = 0;
    while (i < events.length) {
      const rev = Number(events[i]!.kv?.modRevision ?? 0n);
      let j = i + 1;
      while (j < events.length && Number(events[j]!.kv?.modRevision ?? 0n) === rev) j++;
      if (rev >= this.next) {
        this.next = rev + 1;
        this.handlers.onEvents(rev, events.slice(i, j));
        if (this.done) return;
      }
      i = j;
    }
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.stop.abort();
    this.handlers.onError(err);
  }
}
