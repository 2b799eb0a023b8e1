import { describe, expect, it } from "vitest";
import { figureResult, infoResult } from "../../bench/lib/results.js";
import { HEADLINE_END, HEADLINE_START, headlineMarkdown, headlineRows, mergeResults, replaceHeadline, type ResultsDoc } from "../../bench/lib/headline.js";

const date = "2026-12-02T05:54:24.620Z";
const goalRow = (name: string, runs: number[], goal: string, goalValue: number, higherIsBetter: boolean, unit = "reports/s") =>
  ({ ...figureResult({ figure: "ingest", name, runs, unit, goal, goalValue, higherIsBetter, notes: "" }), date });
const info = (name: string, runs: number[], unit = "reports/s") => ({ ...infoResult("ingest", name, runs, unit, ""), date });

const doc: ResultsDoc = {
  updated: date,
  results: [
    goalRow("heartbeat ingest: sustained reports/s, 8 workers × 2 GPUs, ack p99 < 100 ms", [2000, 2001, 3001], "≥ 3,000/s", 3000, true),
    info("grpc-js decode-and-ack server (transport ceiling): sustained reports/s", [8000]),
    goalRow("apiary ÷ grpc-js ack server, ingest", [0.25], "≥ 1.0", 1, true, ""),
    info("etcd (lease per hive + put per report): sustained puts/s", [4000]),
    info("apiary ÷ etcd, ingest", [0.5], ""),
    goalRow("queen start to listening (spawn to the listening line)", [158], "< 1,000 ms", 1000, false, "ms"),
    info("a number nobody compares", [7], "ms"),
  ],
  runs: [{ date, machine: { nproc: "2", cpu: "AMD EPYC", memory: "23.5 GiB total, 23.1 GiB free at start", node: "v20.20.2" } }],
};

describe("BENCHMARKS.md headline", () => {
  it("puts each reference and apiary ÷ reference beside the apiary row, with goals, date and machine", () => {
    const rows = headlineRows(doc);
    expect(rows.map((r) => r.figure)).toEqual([
      "heartbeat ingest: sustained reports/s, 8 workers × 2 GPUs, ack p99 < 100 ms",
      "queen start to listening (spawn to the listening line)",
    ]);
    expect(rows[0]).toEqual({
      figure: rows[0].figure,
      apiary: "2,001 reports/s",
      reference: "grpc-js ack-only server: 8,000 reports/s; etcd put + lease: 4,000 reports/s",
      ratio: "0.250; 0.500",
      goal: "≥ 3,000/s MISS; ÷ grpc-js ack-only server ≥ 1.0 MISS",
      date: "2026-12-02 05:54 UTC",
      machine: "2 cores AMD EPYC, 23.5 GiB, Node v20.20.2",
    });
    expect(rows[1]).toMatchObject({ apiary: "158 ms", reference: "–", ratio: "–", goal: "< 1,000 ms PASS" });
  });

  it("computes the ratio when no row holds it", () => {
    const cpu = { ...goalRow("queen CPU per report, Heartbeat on the raw gRPC path", [88], "≤ 150 µs", 150, false, "µs"), figure: "transport-cost" };
    const ref = { ...info("grpc-js decode-and-ack server, same loop", [44], "µs"), figure: "transport-cost" };
    const [row] = headlineRows({ ...doc, results: [cpu, ref] });
    expect(row).toMatchObject({ reference: "grpc-js ack-only server: 44.0 µs", ratio: "2.00" });
  });

  it("replaces only the block between the markers", () => {
    const page = `# Benchmarks\n\n${HEADLINE_START}\nold table\n${HEADLINE_END}\n\n## Appended by someone\nkept\n`;
    const table = headlineMarkdown(doc);
    const out = replaceHeadline(page, table);
    expect(out).toBe(`# Benchmarks\n\n${HEADLINE_START}\n${table}\n${HEADLINE_END}\n\n## Appended by someone\nkept\n`);
    expect(table.split("\n")[0]).toBe("| figure | apiary | reference (same run) | ratio (apiary ÷ reference) | goal | date | machine |");
    expect(() => replaceHeadline("# no markers", table)).toThrow(/markers/);
  });

  it("merges results files: a later file's rows replace the earlier rows of the same figure", () => {
    const later = "2026-12-07T10:51:13.961Z";
    const rerun: ResultsDoc = {
      updated: later,
      results: [{ ...goalRow("queen start to listening (spawn to the listening line)", [120], "< 1,000 ms", 1000, false, "ms"), figure: "startup", date: undefined }],
      runs: [{ date: later, machine: { nproc: "4", cpu: "Xeon", memory: "64.0 GiB total", node: "v20.20.2" } }],
    };
    const first: ResultsDoc = { ...doc, results: doc.results.map((r) => (r.name.startsWith("queen start") ? { ...r, figure: "startup" } : r)) };
    const rows = headlineRows(mergeResults([first, rerun]));
    expect(rows.find((r) => r.figure.startsWith("queen start"))).toMatchObject({ apiary: "120 ms", date: "2026-12-07 10:51 UTC", machine: "4 cores Xeon, 64.0 GiB, Node v20.20.2" });
    expect(rows.find((r) => r.figure.startsWith("heartbeat ingest"))).toMatchObject({ date: "2026-12-02 05:54 UTC" });
    expect(mergeResults([first, rerun]).updated).toBe(later);
  });
});
