import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parsePrometheusText, parseValue } from "../../../src/hive/engine/prometheus-text.js";

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, "fixtures", name), "utf8");

describe("Prometheus text parser", () => {
  const om = parsePrometheusText(fixture("openmetrics.txt"));

  it("reads escaped label values and HELP text, trailing commas and exemplars", () => {
    expect(om.invalid).toEqual([]);
    const requests = om.families.get("demo_requests")!;
    expect(requests.type).toBe("counter");
    expect(requests.help).toBe('Requests "served".\nSecond line \\ with a backslash.');
    expect(requests.samples).toEqual([
      { name: "demo_requests_total", labels: { path: '/v1/"chat"', note: "a\\b\nc" }, value: 17, timestamp: 1700000000.5 },
      { name: "demo_requests_created", labels: { path: '/v1/"chat"', note: "a\\b\nc" }, value: 1.6e9 },
    ]);
  });

  it("groups a histogram's _bucket, _sum and _count samples under its family", () => {
    const h = om.families.get("demo_latency_seconds")!;
    expect(h.type).toBe("histogram");
    expect(h.samples.map((s) => [s.name, s.labels.le, s.value])).toEqual([
      ["demo_latency_seconds_bucket", "0.5", 2],
      ["demo_latency_seconds_bucket", "1.0", 3],
      ["demo_latency_seconds_bucket", "+Inf", 4],
      ["demo_latency_seconds_sum", undefined, 3.25],
      ["demo_latency_seconds_count", undefined, 4],
    ]);
    expect(om.families.has("demo_latency_seconds_bucket")).toBe(false);
  });

  it("reads NaN, ±Inf, exponents and timestamps", () => {
    const values = Object.fromEntries(om.families.get("demo_values")!.samples.map((s) => [s.labels.which, s]));
    expect(values.nan.value).toBeNaN();
    expect(values.pinf.value).toBe(Infinity);
    expect(values.ninf.value).toBe(-Infinity);
    expect(values.exp.value).toBe(0.0015);
    expect(values.ts).toMatchObject({ value: 7, timestamp: 1700000000000 });
    expect(om.eof).toBe(true);
    expect(om.sampleCount).toBe(12);
  });

  it("reads llama.cpp's -nan as NaN and rejects words that are not numbers", () => {
    expect(parseValue("-nan")).toBeNaN();
    expect(parseValue("1e3")).toBe(1000);
    expect(parseValue(".5")).toBe(0.5);
    for (const bad of ["", "1,5", "0x", "abc", "1.2.3", "Infinity1", "null"]) expect(parseValue(bad), bad).toBeUndefined();
  });

  it("reports each unreadable line with its number and keeps every other sample", () => {
    const text = [
      "# TYPE a gauge",
      "a 1",
      "...",
      'b{x="unterminated} 2',
      'c{x="1",x="2"} 3',
      'd{x="\\q"} 4',
      "e",
      "f 1 2 3",
      "g{9x=\"1\"} 5",
      "h one",
      "i 2 notatime",
      "# TYPE j bogus",
      "k{x=\"ok\"} 6\r",
      "# EOF",
      "l 7",
    ].join("\n");
    const e = parsePrometheusText(text);
    expect(e.invalid.map((l) => l.line)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15]);
    expect(e.invalid[0]).toEqual({ line: 3, text: "...", reason: "not a sample, HELP or TYPE line" });
    expect(e.invalid.at(-1)!.reason).toBe("content after # EOF");
    expect([...e.families.values()].flatMap((f) => f.samples.map((s) => `${s.name}=${s.value}`))).toEqual(["a=1", "k=6"]);
  });

  it("keeps families declared without samples (present, no value) and samples with no HELP or TYPE as untyped", () => {
    const e = parsePrometheusText("# HELP x:running Running.\n# TYPE x:running gauge\nbare_metric{a=\"1\"} 3\n# just a comment\n");
    expect(e.families.get("x:running")).toEqual({ name: "x:running", type: "gauge", help: "Running.", samples: [] });
    expect(e.families.get("bare_metric")).toMatchObject({ type: "untyped", samples: [{ value: 3 }] });
    expect(e.invalid).toEqual([]);
  });

  it("never throws on arbitrary bytes", () => {
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const alphabet = 'ab_:{}=",\\ \n#\tHELPTYPE0123456789.eE+-NaInf';
    for (let i = 0; i < 300; i++) {
      const text = Array.from({ length: Math.floor(rnd() * 200) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join("");
      expect(() => parsePrometheusText(text)).not.toThrow();
    }
  });
});
