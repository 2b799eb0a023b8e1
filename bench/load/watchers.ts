import { setMaxListeners } from "node:events";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { createClient, type Client } from "@connectrpc/connect";
import { QueenService, WatchKind } from "../../gen/apiary/v1/queen_pb.js";
import { HiveReportSchema, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { ETCD_METHODS, decodeWatchResponse, encodeWatchCreate, passthrough } from "../etcd/etcd-wire.js";
import { ETCD_HIVE_PREFIX } from "../etcd/etcd-hive.js";
import { LatencyReservoir, preciseWallMs } from "../lib/stats.js";
import { hiveId, sentAtFromWorker } from "./telemetry-model.js";

export interface WatcherConfig {
  target: "apiary" | "etcd";
  address: string;
  watchers: number;
  hivesPerWatcher: number;
  /** Generators the hives are split over (hive ids are generator × 1,000,000 + local index). */
  generators: number;
  watchersPerConnection: number;
  /** Every watcher of a generator follows the same hives (dashboards, schedulers), not its own. */
  sharedHives?: boolean;
  /** WatchRequest.max_batch of the apiary watchers; 0 = one event per message. Default 256. */
  maxBatch?: number;
}

/** The hives of watcher `w`: a run of consecutive ids of one generator, so one etcd key range. */
export function hivesOfWatcher(w: number, cfg: Pick<WatcherConfig, "generators" | "hivesPerWatcher" | "sharedHives">): { first: number; count: number } {
  const g = w % cfg.generators;
  const run = cfg.sharedHives ? 0 : Math.floor(w / cfg.generators);
  return { first: g * 1_000_000 + run * cfg.hivesPerWatcher, count: cfg.hivesPerWatcher };
}

/**
 * Many watchers, each following the workers of a few hives: apiary Watch streams (worker events,
 * hive_ids filter) or etcd Watch streams (one key range each). Delivery latency is the time from
 * the report leaving its hive (carried in the telemetry) to the event arriving here.
 */
export class WatcherFleet {
  readonly latency = new LatencyReservoir(200_000);
  events = 0;
  errors = 0;
  private ready = 0;
  private readonly stop = new AbortController();
  private readonly etcdClients: grpc.Client[] = [];
  private readonly etcdStreams: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
  private stalled: { abort(): void } | undefined;

  constructor(private readonly cfg: WatcherConfig) {
    // Every watch stream of this fleet listens on the one stop signal.
    setMaxListeners(0, this.stop.signal);
  }

  /** Opens every watcher; resolves once each has its snapshot (apiary) or is created (etcd). */
  async start(timeoutMs = 120_000): Promise<void> {
    const connections = Math.ceil(this.cfg.watchers / this.cfg.watchersPerConnection);
    if (this.cfg.target === "apiary") {
      const clients = Array.from({ length: connections }, () => createClient(QueenService, createApiaryTransport(`http://${this.cfg.address}`, { pingIntervalMs: 60_000 })));
      for (let w = 0; w < this.cfg.watchers; w++) void this.apiaryWatcher(clients[Math.floor(w / this.cfg.watchersPerConnection)], w);
    } else {
      for (let c = 0; c < connections; c++) {
        this.etcdClients.push(new grpc.Client(this.cfg.address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, "bench.watch": c }));
      }
      for (let w = 0; w < this.cfg.watchers; w++) this.etcdWatcher(this.etcdClients[Math.floor(w / this.cfg.watchersPerConnection)], w);
    }
    const deadline = Date.now() + timeoutMs;
    while (this.ready < this.cfg.watchers) {
      if (Date.now() > deadline) throw new Error(`only ${this.ready}/${this.cfg.watchers} watchers ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async apiaryWatcher(client: Client<typeof QueenService>, w: number): Promise<void> {
    const { first, count } = hivesOfWatcher(w, this.cfg);
    const hiveIds = Array.from({ length: count }, (_, i) => hiveId(first + i));
    try {
      const maxBatch = this.cfg.maxBatch ?? 256;
      for await (const res of client.watch({ hiveIds, kinds: [WatchKind.WORKER], maxBatch }, { signal: this.stop.signal })) {
        if (res.kind.case === "snapshotEnd") this.ready++;
        if (res.snapshot) continue;
        if (res.kind.case === "worker") this.workerEvent(res.kind.value.worker);
        else if (res.kind.case === "batch") for (const e of res.kind.value.events) if (e.kind.case === "worker") this.workerEvent(e.kind.value.worker);
      }
    } catch {
      if (!this.stop.signal.aborted) this.errors++;
    }
  }

  private workerEvent(worker: WorkerTelemetry | undefined): void {
    const sent = worker && sentAtFromWorker(worker);
    if (sent === undefined) return;
    this.events++;
    this.latency.add(preciseWallMs() - sent);
  }

  private etcdWatcher(client: grpc.Client, w: number): void {
    const { first, count } = hivesOfWatcher(w, this.cfg);
    const stream = client.makeBidiStreamRequest(ETCD_METHODS.watch, passthrough.serialize, passthrough.deserialize);
    this.etcdStreams.push(stream);
    stream.on("data", (bytes: Buffer) => {
      const res = decodeWatchResponse(bytes);
      if (res.created) this.ready++;
      const now = preciseWallMs();
      for (const event of res.events) {
        if (event.type !== 0) continue;
        const report = fromBinary(HiveReportSchema, event.value);
        if (!report.collectedAt) continue;
        this.events++;
        this.latency.add(now - timestampMs(report.collectedAt));
      }
    });
    stream.on("error", () => {
      if (!this.stop.signal.aborted) this.errors++;
    });
    stream.write(encodeWatchCreate(ETCD_HIVE_PREFIX + hiveId(first), ETCD_HIVE_PREFIX + hiveId(first + count)));
  }

  /** Opens a watcher of everything, on its own connection, that reads its first message and then nothing. */
  async openStalled(): Promise<void> {
    if (this.cfg.target === "apiary") {
      const abort = new AbortController();
      const client = createClient(QueenService, createApiaryTransport(`http://${this.cfg.address}`, { pingIntervalMs: 600_000 }));
      const it = client.watch({}, { signal: abort.signal })[Symbol.asyncIterator]();
      await it.next();
      this.stalled = { abort: () => abort.abort() };
    } else {
      const client = new grpc.Client(this.cfg.address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, "bench.stalled": 1 });
      const stream = client.makeBidiStreamRequest(ETCD_METHODS.watch, passthrough.serialize, passthrough.deserialize);
      stream.on("error", () => {});
      await new Promise<void>((resolve) => {
        stream.once("data", () => {
          stream.pause();
          resolve();
        });
        stream.write(encodeWatchCreate(ETCD_HIVE_PREFIX, prefixEnd(ETCD_HIVE_PREFIX)));
      });
      this.stalled = {
        abort: () => {
          stream.cancel();
          client.close();
        },
      };
    }
  }

  closeStalled(): void {
    this.stalled?.abort();
    this.stalled = undefined;
  }

  take(maxSamples = 50_000): { events: number; errors: number; samples: number[] } {
    const all = this.latency.samples();
    const step = Math.max(1, Math.ceil(all.length / maxSamples));
    const samples: number[] = [];
    for (let i = 0; i < all.length; i += step) samples.push(Math.round(all[i] * 1000) / 1000);
    const out = { events: this.events, errors: this.errors, samples };
    this.events = 0;
    this.latency.reset();
    return out;
  }

  close(): void {
    this.stop.abort();
    this.closeStalled();
    for (const s of this.etcdStreams) s.cancel();
    for (const c of this.etcdClients) c.close();
  }
}

/** etcd's "every key with this prefix" range end: the prefix with its last byte incremented. */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
