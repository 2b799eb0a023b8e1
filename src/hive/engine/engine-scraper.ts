import { create } from "@bufbuild/protobuf";
import { CollectionErrorSchema, WorkerState, type CollectionError, type EngineLoad, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { readEngine } from "./engine-reading.js";
import { DEFAULT_SCRAPE_DEADLINE_MS, DEFAULT_SCRAPE_MAX_BYTES, fetchMetrics } from "./fetch-metrics.js";
import { EngineLoadTracker } from "./load-tracker.js";
import { parsePrometheusText } from "./prometheus-text.js";

/** A worker whose engine metrics the hive scrapes. */
export interface EngineTarget {
  workerId: string;
  url: string;
}

export interface EngineOutcome {
  load?: EngineLoad;
  error?: CollectionError;
}

export interface EngineScraperOptions {
  /** The workers to scrape now (called once per scrape). */
  targets: () => EngineTarget[];
  /** Per scrape; default 300 ms. */
  deadlineMs?: number;
  /** Per response; default 4 MiB. */
  maxBytes?: number;
}

function engineError(message: string): CollectionError {
  return create(CollectionErrorSchema, { source: "engine", message });
}

/** Why a body is not a usable exposition; undefined when it is one. */
function notAnExposition(body: string): string | undefined {
  const start = body.trimStart();
  if (start === "") return "empty response";
  if (start.startsWith("[") || start.startsWith("{")) return "JSON, not the Prometheus text format (trtllm-serve serves Prometheus text at /prometheus/metrics)";
  if (start.startsWith("<")) return "HTML, not the Prometheus text format";
  if (start.startsWith('"')) return "a quoted string, not the Prometheus text format";
  return undefined;
}

/**
 * Reads one scraped body. A body with no line in the text format, or whose names match no known
 * engine, is an error (the last good values stand, stale). Unreadable lines among readable ones
 * are reported as an error too, but the engine's values that could be read are used.
 */
export function interpretBody(body: string): { reading?: ReturnType<typeof readEngine>; error?: string } {
  const wrong = notAnExposition(body);
  if (wrong) return { error: wrong };
  const exposition = parsePrometheusText(body);
  const firstBad = exposition.invalid[0];
  const badNote = firstBad ? `${exposition.invalid.length} unreadable line(s), first line ${firstBad.line} (${firstBad.reason}): ${JSON.stringify(firstBad.text.slice(0, 60))}` : "";
  if (exposition.families.size === 0) return { error: badNote || "no metric in the response" };
  const reading = readEngine(exposition);
  if (!reading) return { error: `no known engine's metrics in the response (${exposition.families.size} families)${badNote ? `; ${badNote}` : ""}` };
  return { reading, error: badNote || undefined };
}

/**
 * Scrapes every target's engine /metrics concurrently, each with its own deadline and size cap,
 * and keeps each worker's load across ticks. A failure is that worker's CollectionError only.
 */
export class EngineScraper {
  private readonly trackers = new Map<string, EngineLoadTracker>();
  private readonly deadlineMs: number;
  private readonly maxBytes: number;

  constructor(private readonly options: EngineScraperOptions) {
    this.deadlineMs = options.deadlineMs ?? DEFAULT_SCRAPE_DEADLINE_MS;
    this.maxBytes = options.maxBytes ?? DEFAULT_SCRAPE_MAX_BYTES;
  }

  /** Never rejects; settles within about the deadline. */
  async scrape(): Promise<Map<string, EngineOutcome>> {
    const targets = this.options.targets();
    const wanted = new Set(targets.map((t) => t.workerId));
    for (const id of this.trackers.keys()) if (!wanted.has(id)) this.trackers.delete(id);
    const outcomes = await Promise.all(targets.map((t) => this.scrapeOne(t)));
    return new Map(targets.map((t, i) => [t.workerId, outcomes[i]]));
  }

  /** Last good values of every tracked worker, stale (for a tick whose scrape did not finish). */
  lastKnown(): Map<string, EngineOutcome> {
    const now = performance.now();
    const result = new Map<string, EngineOutcome>();
    for (const [id, tracker] of this.trackers) result.set(id, { load: tracker.stale(now), error: engineError("engine metrics scrape did not finish within the tick deadline") });
    return result;
  }

  private async scrapeOne(target: EngineTarget): Promise<EngineOutcome> {
    let tracker = this.trackers.get(target.workerId);
    if (!tracker) this.trackers.set(target.workerId, (tracker = new EngineLoadTracker()));
    const fetched = await fetchMetrics(target.url, { deadlineMs: this.deadlineMs, maxBytes: this.maxBytes });
    const atMs = performance.now();
    if (!fetched.ok) return { load: tracker.stale(atMs), error: engineError(fetched.error) };
    const { reading, error } = interpretBody(fetched.body);
    if (!reading) return { load: tracker.stale(atMs), error: engineError(`${target.url}: ${error}`) };
    const load = tracker.update(reading, atMs, Date.now(), target.url);
    return { load, error: error ? engineError(`${target.url}: ${error}`) : undefined };
  }
}

/** Puts each worker's engine outcome on its telemetry (workers without one are left as they are). */
export function withEngineLoad(workers: WorkerTelemetry[], outcomes: Map<string, EngineOutcome>): WorkerTelemetry[] {
  if (outcomes.size === 0) return workers;
  return workers.map((w) => {
    const outcome = outcomes.get(w.workerId);
    if (!outcome || w.state === WorkerState.EXITED || w.state === WorkerState.FAILED) return w;
    const result: WorkerTelemetry = { ...w, engineLoad: outcome.load };
    if (outcome.error) result.errors = [...w.errors, outcome.error];
    return result;
  });
}
