import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { HeartbeatRequestSchema } from "../../gen/apiary/v1/queen_pb.js";
import { LivenessClock, systemClock } from "../../src/common/clock.js";
import { MemoryRegistry } from "../../src/queen/registry/memory-registry.js";
import { DEFAULT_QUEEN_CONFIG } from "../../src/queen/queen-config.js";
import { validateReport } from "../../src/queen/ingest/report-validation.js";
import { WatchHub } from "../../src/queen/watch/watch-hub.js";
import { HeartbeatDecoder, HeartbeatFrameSchema } from "../../src/queen/ingest/heartbeat-decoder.js";

import { encodeReport, preEncodedReportRequest } from "../load/report-encoder.js";
import { SimulatedHive, type ClusterShape } from "../load/telemetry-model.js";
import { median } from "../lib/stats.js";

export interface CeilingOptions extends ClusterShape {
  hives: number;
  /** Distinct encoded reports per hive, cycled (so values keep changing). */
  variants: number;
  durationMs: number;
  /** "queen": the queen's per-stream HeartbeatDecoder (reuses unchanged parts); "protobuf-es": fromBinary of every request. */
  decoder?: "queen" | "protobuf-es";
}

/**
 * The queen's in-process ceiling: decode a HeartbeatRequest from wire bytes, validate the report
 * and apply it to a MemoryRegistry (with its WatchHub subscribed, as in the queen), in a tight
 * loop with no network. Returns reports per CPU second (one core).
 */
export function measureCeiling(opts: CeilingOptions): { rate: number; decodeShare: number } {
  const registry = new MemoryRegistry({ shards: DEFAULT_QUEEN_CONFIG.shards, historySize: DEFAULT_QUEEN_CONFIG.historySize, clock: new LivenessClock(systemClock) });
  new WatchHub(registry, DEFAULT_QUEEN_CONFIG.watcherMaxPending);
  const frames: Uint8Array[][] = [];
  for (let h = 0; h < opts.hives; h++) {
    const sim = new SimulatedHive(h, opts);
    registry.hello(sim.info, "ceiling");
    const variants: Uint8Array[] = [];
    for (let v = 0; v < opts.variants; v++) variants.push(toBinary(HeartbeatRequestSchema, preEncodedReportRequest(encodeReport(sim.next(Date.now())))));
    frames.push(variants);
  }
  const decoders = frames.map(() => new HeartbeatDecoder());
  const reuse = (opts.decoder ?? "queen") === "queen";
  const decode = (h: number, v: number) =>
    // As connect-node and the queen's Heartbeat route do: the frame, then the report.
    reuse ? decoders[h].decode(fromBinary(HeartbeatFrameSchema, frames[h][v])) : fromBinary(HeartbeatRequestSchema, frames[h][v]);
  // Steady state: every hive has reported before (the queen's decoder knows its previous report),
  // and the code is warm.
  for (let h = 0; h < opts.hives; h++) {
    const req = decode(h, opts.variants - 1);
    if (req.kind.case === "report") registry.applyReport(`h${String(h).padStart(6, "0")}`, "ceiling", req.kind.value);
  }
  let applied = 0;
  let decodeMs = 0;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = start + opts.durationMs;
  for (let round = 0; performance.now() < deadline; round++) {
    const v = round % opts.variants;
    for (let h = 0; h < opts.hives; h++) {
      const t0 = performance.now();
      const req = decode(h, v);
      decodeMs += performance.now() - t0;
      if (req.kind.case !== "report") throw new Error("ceiling: expected a report");
      validateReport(req.kind.value);
      registry.applyReport(`h${String(h).padStart(6, "0")}`, "ceiling", req.kind.value);
      applied++;
      if ((applied & 255) === 0 && performance.now() >= deadline) break;
    }
  }
  const elapsed = performance.now() - start;
  // Per CPU second of this process, not per wall second: on a shared, loaded machine the wall
  // clock counts the time other processes held the core.
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { rate: (applied * 1000) / cpuMs, decodeShare: decodeMs / elapsed };
}

export function medianCeiling(opts: CeilingOptions, runs: number): { runs: number[]; rate: number; decodeShare: number } {
  const results = Array.from({ length: runs }, () => measureCeiling(opts));
  return { runs: results.map((r) => r.rate), rate: median(results.map((r) => r.rate)), decodeShare: median(results.map((r) => r.decodeShare)) };
}
