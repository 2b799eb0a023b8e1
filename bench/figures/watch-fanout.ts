import { create } from "@bufbuild/protobuf";
import { WorkerTelemetrySchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { ChangeType, type RegistryEvent, type RegistryReadView } from "../../src/queen/registry/registry.js";
import { WatchHub, type WatchParams } from "../../src/queen/watch/watch-hub.js";
import { infoResult, type FigureResult } from "../lib/results.js";
import type { FigureContext } from "./context.js";

/**
 * CPU of the watch hub's fan-out alone, in process: one registry event offered to every watcher's
 * queue (coalescing per object, as a watcher that reads slower than the fleet changes does).
 * The soak's profile put WatcherQueue.offer at a third of the queen's CPU with 50 watchers; this
 * is that path without the transport, so a change to it shows here first.
 */
export async function watchFanoutFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const watchers = f.num("fanout-watchers", 51);
  const objects = f.num("fanout-objects", 9_000);
  const events = f.num("fanout-events", 200_000);
  const runs: number[] = [];
  for (let run = 0; run < f.num("runs", 3); run++) runs.push(perEventUs(watchers, objects, events));
  ctx.log(`  ${watchers} watchers, ${objects} objects, ${events} events: ${runs.map((r) => r.toFixed(1)).join(", ")} µs per event`);
  return [infoResult("watch-fanout", `Watch fan-out: CPU per registry event offered to ${watchers} watchers (hub alone, in process)`, runs, "µs", `${objects} workers updated round-robin, min_update_interval 500 ms, max_batch 100`)];
}

function perEventUs(watchers: number, objects: number, events: number): number {
  let publish: (event: RegistryEvent) => void = () => undefined;
  let revision = 0;
  // Only what the hub's live path reads: subscribe and the current revision (no snapshot is taken).
  const registry = {
    epoch: "bench",
    revision: () => revision,
    subscribe: (listener: (event: RegistryEvent) => void) => ((publish = listener), () => undefined),
    eventsSince: () => undefined,
    hives: () => [],
  } as unknown as RegistryReadView;
  const hub = new WatchHub(registry, 10 * objects);
  const params: WatchParams = { sinceRevision: 1, epoch: "bench", hiveIds: undefined, model: "", hives: true, workers: true, bookmarkIntervalMs: 0, minUpdateIntervalMs: 500, maxBatch: 100 };
  for (let i = 0; i < watchers; i++) hub.open({ ...params });
  const fleet = Array.from({ length: objects }, (_, i) => ({
    hiveId: `hive-${String(i >> 3).padStart(5, "0")}`,
    worker: create(WorkerTelemetrySchema, { workerId: `w-${i & 7}`, model: "m" }),
  }));
  const started = performance.now();
  for (let n = 0; n < events; n++) {
    const { hiveId, worker } = fleet[n % objects]!;
    publish({ revision: ++revision, kind: "worker", type: ChangeType.Updated, hiveId, worker });
  }
  return ((performance.now() - started) * 1000) / events;
}
