import type { EngineKind } from "../../../gen/apiary/v1/telemetry_pb.js";
import { ENGINE_PROFILES, type EngineProfile, type HistogramSource, type KvSource, type Selector } from "./engine-profiles.js";
import { cumulativeBuckets, type Buckets } from "./histogram.js";
import type { Exposition, Sample } from "./prometheus-text.js";

/** One scrape of one engine, normalised; cumulative counters and histograms are kept raw for rates. */
export interface EngineReading {
  kind: EngineKind;
  version: string;
  model: string;
  running?: number;
  waiting?: number;
  /** 0–1. */
  kvRatio?: number;
  promptTokensTotal?: number;
  generationTokensTotal?: number;
  ttft?: Buckets;
  itl?: Buckets;
}

const MISSING_MODEL = new Set(["", "undefined", "none", "null"]);

/** Samples by their own name. */
function index(exposition: Exposition): Map<string, Sample[]> {
  const byName = new Map<string, Sample[]>();
  for (const family of exposition.families.values()) {
    for (const sample of family.samples) {
      let list = byName.get(sample.name);
      if (!list) byName.set(sample.name, (list = []));
      list.push(sample);
    }
  }
  return byName;
}

/** The engine whose names the exposition carries, or undefined. */
export function detectEngine(exposition: Exposition): EngineProfile | undefined {
  const names = [...exposition.families.keys()];
  for (const profile of ENGINE_PROFILES) {
    if (names.some((n) => profile.prefixes.some((p) => n.startsWith(p)))) return profile;
    const lf = profile.labelledFamily;
    if (lf && exposition.families.get(lf.name)?.samples.some((x) => lf.label in x.labels)) return profile;
  }
  return undefined;
}

function matching(byName: Map<string, Sample[]>, sel: Selector): Sample[] {
  const all = byName.get(sel.name) ?? [];
  const where = sel.where;
  if (!where) return all;
  return all.filter((x) => Object.entries(where).every(([k, v]) => x.labels[k] === v));
}

/** Sum over the first selector with finite samples; NaN samples (no value yet) are skipped. */
function sumFirst(byName: Map<string, Sample[]>, sels: readonly Selector[]): number | undefined {
  for (const sel of sels) {
    const finite = matching(byName, sel).filter((x) => Number.isFinite(x.value));
    if (finite.length > 0) return finite.reduce((sum, x) => sum + x.value, 0);
  }
  return undefined;
}

function meanOf(samples: Sample[]): number | undefined {
  const finite = samples.filter((x) => Number.isFinite(x.value));
  return finite.length === 0 ? undefined : finite.reduce((sum, x) => sum + x.value, 0) / finite.length;
}

/** KV-cache use as a ratio; a value outside 0–1 (a percentage where a ratio belongs) is unknown, never rescaled by guess. */
function kvRatio(byName: Map<string, Sample[]>, sources: readonly KvSource[]): number | undefined {
  for (const source of sources) {
    let ratio: number | undefined;
    if ("ratio" in source) {
      ratio = meanOf(matching(byName, source.ratio)); // data-parallel ranks: the mean over them
    } else {
      const used = sumFirst(byName, [source.used]);
      const total = sumFirst(byName, [source.total]);
      if (used !== undefined && total !== undefined && total > 0) ratio = used / total;
    }
    if (ratio === undefined) continue;
    return ratio >= 0 && ratio <= 1 ? ratio : undefined;
  }
  return undefined;
}

function histogram(byName: Map<string, Sample[]>, sources: readonly HistogramSource[]): Buckets | undefined {
  for (const source of sources) {
    const buckets = cumulativeBuckets(byName.get(`${source.name}_bucket`) ?? [], source.secondsPerUnit);
    if (buckets) return buckets;
  }
  return undefined;
}

function modelName(byName: Map<string, Sample[]>, profile: EngineProfile): string {
  const preferred = profile.modelFrom ?? [];
  let fallback = "";
  for (const [name, samples] of byName) {
    if (!profile.prefixes.some((p) => name.startsWith(p)) && !profile.running.some((r) => r.name === name)) continue;
    for (const sample of samples) {
      for (const key of profile.modelLabels) {
        const value = sample.labels[key];
        if (value === undefined || MISSING_MODEL.has(value.toLowerCase())) continue;
        if (preferred.length === 0 || preferred.some((p) => name.startsWith(p))) return value;
        fallback ||= value;
      }
    }
  }
  return fallback;
}

function versionOf(byName: Map<string, Sample[]>, profile: EngineProfile): string {
  for (const [name, samples] of byName) {
    if (!profile.prefixes.some((p) => name.startsWith(p))) continue;
    if (!/(build|version)_info$/.test(name)) continue;
    const version = samples.find((x) => x.labels.version)?.labels.version;
    if (version) return version;
  }
  return "";
}

function rounded(n: number | undefined): number | undefined {
  return n === undefined || n < 0 ? undefined : Math.round(n);
}

/** Reads the engine's load from one exposition; undefined when no known engine's names are in it. */
export function readEngine(exposition: Exposition): EngineReading | undefined {
  const profile = detectEngine(exposition);
  if (!profile) return undefined;
  const byName = index(exposition);
  return {
    kind: profile.kind,
    version: versionOf(byName, profile),
    model: modelName(byName, profile),
    running: rounded(sumFirst(byName, profile.running)),
    waiting: rounded(sumFirst(byName, profile.waiting)),
    kvRatio: kvRatio(byName, profile.kv),
    promptTokensTotal: sumFirst(byName, profile.promptTokens),
    generationTokensTotal: sumFirst(byName, profile.generationTokens),
    ttft: histogram(byName, profile.ttft),
    itl: histogram(byName, profile.itl),
  };
}
