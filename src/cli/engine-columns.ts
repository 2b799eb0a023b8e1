import type { WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { DASH } from "./format.js";

/** Engine-load columns of worker tables: requests running and waiting, KV-cache use, generated tokens/s. */
export const ENGINE_HEADERS = [">RUN", ">WAIT", ">KV", ">TOK/S"];

/** The engine-load cells of one worker; "-" when unknown, a leading "~" when the values are stale. */
export function engineCells(w: WorkerTelemetry): string[] {
  const load = w.engineLoad;
  if (!load) return [DASH, DASH, DASH, DASH];
  const mark = load.stale ? "~" : "";
  const cell = (text: string | undefined) => (text === undefined ? DASH : `${mark}${text}`);
  return [
    cell(load.requestsRunning?.toString()),
    cell(load.requestsWaiting?.toString()),
    cell(load.kvCacheUsageRatio === undefined ? undefined : `${Math.round(load.kvCacheUsageRatio * 100)}%`),
    cell(load.generationTokensPerSec === undefined ? undefined : load.generationTokensPerSec.toFixed(load.generationTokensPerSec >= 100 ? 0 : 1)),
  ];
}
