import { fromBinary } from "@bufbuild/protobuf";
import { HiveReportSchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { LivenessClock, systemClock } from "../../src/common/clock.js";
import { MemoryRegistry } from "../../src/queen/registry/memory-registry.js";
import { DEFAULT_QUEEN_CONFIG } from "../../src/queen/queen-config.js";
import { WatchHub } from "../../src/queen/watch/watch-hub.js";
import { encodeReport } from "../load/report-encoder.js";
import { SimulatedHive } from "../load/telemetry-model.js";

/**
 * Registry memory in a fresh process (node --expose-gc): RSS after a full GC before and after
 * `hives` hives joined and reported three times (reports decoded from wire bytes, as the queen
 * gets them; the default event history is kept). Prints one JSON line.
 */
const [hives, workers, gpus, models] = process.argv.slice(2).map(Number);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const settle = () => {
  for (let i = 0; i < 3; i++) gc();
};

const registry = new MemoryRegistry({ shards: DEFAULT_QUEEN_CONFIG.shards, historySize: DEFAULT_QUEEN_CONFIG.historySize, clock: new LivenessClock(systemClock) });
new WatchHub(registry, DEFAULT_QUEEN_CONFIG.watcherMaxPending);
const sims: SimulatedHive[] = [];
for (let h = 0; h < hives; h++) sims.push(new SimulatedHive(h, { workers, gpus, models }));
// Warm the code paths on a throwaway registry so JIT code is not counted.
const warm = new MemoryRegistry({ shards: 4, historySize: 100, clock: new LivenessClock(systemClock) });
for (let h = 0; h < 50; h++) {
  warm.hello(sims[h].info, "warm");
  warm.applyReport(sims[h].info.hiveId, "warm", fromBinary(HiveReportSchema, encodeReport(sims[h].next(Date.now()))));
}
// Encode before the baseline: the encoded bytes are the generator's, not the registry's.
const rounds = 3;
const frames = sims.map((sim) => Array.from({ length: rounds }, () => encodeReport(sim.next(Date.now()))));
settle();
const before = process.memoryUsage();
for (let round = 0; round < rounds; round++) {
  for (let h = 0; h < hives; h++) {
    if (round === 0) registry.hello(sims[h].info, "bench");
    registry.applyReport(sims[h].info.hiveId, "bench", fromBinary(HiveReportSchema, frames[h][round]));
    frames[h][round] = new Uint8Array(0);
  }
}
settle();
const after = process.memoryUsage();
const count = registry.workerCount();
console.log(JSON.stringify({ workers: count, hives: registry.hiveCount(), rssDelta: after.rss - before.rss, heapDelta: after.heapUsed - before.heapUsed }));
