import { GpuProbeState, type HiveReport } from "../../gen/apiary/v1/telemetry_pb.js";

/** What firstProbedReport needs of the monitor. */
export interface ReportFeed {
  latest(): HiveReport | undefined;
  subscribe(listener: (report: HiveReport) => void): () => void;
}

const probed = (r: HiveReport | undefined): r is HiveReport =>
  r !== undefined && (r.gpuProbe?.state ?? GpuProbeState.UNSPECIFIED) !== GpuProbeState.UNSPECIFIED;

/**
 * The first report whose GPU probe has finished (OK, NOT_FOUND, TIMEOUT or ERROR), or the latest
 * report (maybe none) once boundMs has passed.
 */
export function firstProbedReport(feed: ReportFeed, boundMs: number): Promise<HiveReport | undefined> {
  const latest = feed.latest();
  if (probed(latest)) return Promise.resolve(latest);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(feed.latest()), boundMs);
    const unsubscribe = feed.subscribe((report) => {
      if (probed(report)) finish(report);
    });
    function finish(report: HiveReport | undefined) {
      clearTimeout(timer);
      unsubscribe();
      resolve(report);
    }
  });
}
