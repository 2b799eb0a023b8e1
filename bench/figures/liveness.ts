import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { sleep } from "../lib/args.js";
import { GeneratorFleet } from "../lib/generators.js";
import { startQueenServer, type QueenLogEvent } from "../lib/servers.js";
import { hiveId } from "../load/telemetry-model.js";
import type { FigureContext } from "./context.js";

export interface LivenessResult {
  hives: number;
  /** DOWN seen this long after last_seen + degradedMs (negative: early). */
  downLatenessMs: number;
  /** Health changes to DEGRADED or DOWN of hives that kept reporting. */
  healthyHivesDegraded: number;
  stallWarnings: number;
  ackP99: number;
  ackRate: number;
}

const VICTIM_FIRST_HIVE = 9_000_000;

/**
 * The full-load liveness run: `hives` hives report while one extra hive, in its own process, is
 * SIGKILLed. Measures when the queen marks it DOWN (from its log) against its last report
 * (last_seen from GetHive) + degradedMs, and counts any other hive that left HEALTHY.
 */
export async function livenessRun(
  ctx: FigureContext,
  opts: { hives: number; generators: number; workers: number; gpus: number; degradedMs: number; healthyMs: number; hivesPerConnection: number; client: "raw" | "connect" },
): Promise<LivenessResult> {
  const queen = await startQueenServer({ degradedMs: opts.degradedMs, healthyMs: opts.healthyMs }, ctx.queenStart);
  const fleet = await GeneratorFleet.start(opts.generators, { target: "apiary", address: queen.address, workers: opts.workers, gpus: opts.gpus, hivesPerConnection: opts.hivesPerConnection, client: opts.client });
  const victim = await GeneratorFleet.start(1, { target: "apiary", address: queen.address, firstHive: VICTIM_FIRST_HIVE, workers: opts.workers, gpus: opts.gpus });
  const victimId = hiveId(VICTIM_FIRST_HIVE);
  const client = createClient(QueenService, createApiaryTransport(`http://${queen.address}`));
  try {
    await victim.scaleTo(1);
    await fleet.scaleTo(opts.hives);
    const firstEvent = queen.events.length;
    await sleep(5_000);
    await fleet.window();
    victim.kill();
    // The broken stream makes it DEGRADED at once; its last report time stays in last_seen.
    await sleep(1_000);
    const status = await client.getHive({ hiveId: victimId }, { timeoutMs: 10_000 });
    const lastSeenMs = status.hive?.lastSeen ? timestampMs(status.hive.lastSeen) : NaN;
    const down = await waitForEvent(queen.events, firstEvent, (e) => e.hiveId === victimId && e.to === "DOWN", opts.degradedMs + 15_000);
    const w = await fleet.window();
    const during = queen.events.slice(firstEvent);
    const healthyHivesDegraded = during.filter((e) => e.hiveId !== undefined && e.hiveId !== victimId && (e.to === "HIVE_HEALTH_DEGRADED" || e.to === "DOWN")).length;
    const stallWarnings = during.filter((e) => e.msg?.includes("stalled")).length;
    const downLatenessMs = down ? down.time - lastSeenMs - opts.degradedMs : NaN;
    ctx.log(
      `  liveness at ${opts.hives} hives: victim DOWN ${downLatenessMs.toFixed(0)} ms after last_seen + ${opts.degradedMs} ms; other hives degraded: ${healthyHivesDegraded}; stall warnings: ${stallWarnings}; acks ${w.ackRate.toFixed(0)}/s p99 ${w.latencyMs.p99.toFixed(1)} ms`,
    );
    return { hives: opts.hives, downLatenessMs, healthyHivesDegraded, stallWarnings, ackP99: w.latencyMs.p99, ackRate: w.ackRate };
  } finally {
    await victim.stop(false).catch(() => {});
    await fleet.stop();
    await queen.stop();
  }
}

async function waitForEvent(events: QueenLogEvent[], from: number, match: (e: QueenLogEvent) => boolean, timeoutMs: number): Promise<QueenLogEvent | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let i = from; Date.now() < deadline; ) {
    for (; i < events.length; i++) if (match(events[i])) return events[i];
    await sleep(50);
  }
  return undefined;
}
