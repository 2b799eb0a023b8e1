import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import {
  CollectionErrorSchema,
  XidCountSchema,
  XidEventSchema,
  type CollectionError,
  type XidCount,
  type XidEvent,
} from "../../../gen/apiary/v1/telemetry_pb.js";
import { KmsgReader, type KmsgReaderOptions } from "./kmsg-reader.js";
import { parseKmsgRecord, XidLineParser, type XidLine } from "./parse-xid-line.js";

/** What the GPU verdict needs of one GPU's Xids (see judgeGpu). */
export interface XidHistory {
  /** Codes seen within the hold window, each once, with the sequence of its latest event. */
  seen: { code: number; seq: number }[];
  /** The most recent events, newest last, at most {@link RECENT_PER_GPU}. */
  recent: XidEvent[];
  /** Events by code since the hive started. */
  counts: XidCount[];
}

export interface XidMonitorOptions extends KmsgReaderOptions {
  /** An Xid counts in the verdict for this long after it was read; default 10 minutes. */
  holdMs?: number;
  logger?: Logger;
}

export const RECENT_PER_GPU = 16;
const MAX_BUSES = 64;
const EMPTY: XidHistory = { seen: [], recent: [], counts: [] };

interface BusXids {
  recent: XidEvent[];
  counts: Map<number, bigint>;
  /** code → [read time, sequence] of its latest event. */
  latest: Map<number, [number, number]>;
}

/**
 * Xid events of this machine's GPUs from the kernel log, by PCI bus id: a bounded recent list,
 * counts by code, and the codes seen within the hold window. poll() is called once per GPU probe
 * round; an unreadable log is one standing CollectionError (logged when it starts and ends), not one per tick.
 */
export class XidMonitor {
  private readonly reader: KmsgReader;
  private readonly parser = new XidLineParser();
  private readonly holdMs: number;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private readonly buses = new Map<string, BusXids>();
  private seq = 0;
  private loggedError: string | undefined;

  constructor(opts: XidMonitorOptions = {}) {
    this.reader = new KmsgReader(opts);
    this.holdMs = opts.holdMs ?? 10 * 60_000;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
  }

  /** Reads what the kernel logged since the last call; answers the standing error, if any. Never throws. */
  poll(): CollectionError | undefined {
    const { lines, error } = this.reader.poll();
    for (const line of lines) {
      const xid = this.parser.accept(parseKmsgRecord(line).message);
      if (xid) this.record(xid);
    }
    if (error !== this.loggedError) {
      if (error) this.log?.warn({ path: this.reader.path, error }, "kernel log unreadable: Xid events are not seen");
      else this.log?.info({ path: this.reader.path }, "reading Xid events from the kernel log");
      this.loggedError = error;
    }
    return error === undefined ? undefined : create(CollectionErrorSchema, { source: "gpu.kmsg", message: error });
  }

  history(busId: string): XidHistory {
    const bus = this.buses.get(busId);
    if (!bus) return EMPTY;
    const since = this.now() - this.holdMs;
    const seen: XidHistory["seen"] = [];
    for (const [code, [atMs, seq]] of bus.latest) if (atMs >= since) seen.push({ code, seq });
    const counts = [...bus.counts].sort((a, b) => a[0] - b[0]).map(([code, count]) => create(XidCountSchema, { code, count }));
    return { seen, recent: [...bus.recent], counts };
  }

  close(): void {
    this.reader.close();
  }

  private record(xid: XidLine): void {
    let bus = this.buses.get(xid.busId);
    if (!bus) {
      if (this.buses.size >= MAX_BUSES) this.buses.delete(this.buses.keys().next().value as string);
      bus = { recent: [], counts: new Map(), latest: new Map() };
      this.buses.set(xid.busId, bus);
    }
    const atMs = this.now();
    bus.recent.push(create(XidEventSchema, { code: xid.code, at: timestampFromMs(atMs), text: xid.text }));
    if (bus.recent.length > RECENT_PER_GPU) bus.recent.shift();
    bus.counts.set(xid.code, (bus.counts.get(xid.code) ?? 0n) + 1n);
    bus.latest.set(xid.code, [atMs, ++this.seq]);
    this.log?.warn({ busId: xid.busId, xid: xid.code, text: xid.text }, "GPU Xid event");
  }
}
