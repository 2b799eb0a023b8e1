import { median } from "./stats.js";

/** One row of the results table. */
export interface FigureResult {
  /** Which benchmark produced it (the `node bin/bench.mjs <figure>` name). */
  figure: string;
  /** What is measured, e.g. "heartbeat ingest, sustained reports/s". */
  name: string;
  /** The median of the runs. */
  result: number;
  unit: string;
  /** The goal as a sentence, e.g. "≥ 10,000/s". */
  goal: string;
  goalValue: number;
  /** true: result must be ≥ goal; false: ≤ goal. */
  higherIsBetter: boolean;
  /** Result ÷ goal (≥ 1 means the goal is met when higher is better; ≤ 1 when lower is better). */
  ratio: number;
  pass: boolean;
  /** Every run's value. */
  runs: number[];
  notes: string;
}

export function figureResult(
  f: Omit<FigureResult, "result" | "ratio" | "pass"> & { result?: number },
): FigureResult {
  const result = f.result ?? median(f.runs);
  const ratio = result / f.goalValue;
  const pass = Number.isFinite(result) && (f.higherIsBetter ? result >= f.goalValue : result <= f.goalValue);
  return { ...f, result, ratio, pass };
}

/** A row that only reports a number or a comparison (no goal to meet). */
export function infoResult(figure: string, name: string, runs: number[], unit: string, notes: string, result?: number): FigureResult {
  const value = result ?? median(runs);
  return { figure, name, result: value, unit, goal: "report", goalValue: NaN, higherIsBetter: true, ratio: NaN, pass: true, runs, notes };
}

export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toPrecision(digits);
}
