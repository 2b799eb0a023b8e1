/**
 * A parser for the Prometheus text exposition format (0.0.4) and the OpenMetrics text format it
 * grew into, as inference engines really serve it: HELP/TYPE lines, label values with `\\`, `\"`
 * and `\n` escapes, NaN and ±Inf, optional timestamps, `# EOF`, exemplars, histogram and summary
 * families whose samples carry suffixes (`_bucket`, `_sum`, `_count`, `_created`).
 *
 * A line that cannot be read is recorded in `invalid` and skipped; the rest of the exposition is
 * still returned, so one bad family (llama.cpp's `-nan`, which is read as NaN, is not one) does
 * not hide the others. Whether that is good enough is the caller's decision.
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped" | "info" | "stateset" | "gaugehistogram" | "unknown";

export interface Sample {
  /** The sample's own name, e.g. `vllm:time_to_first_token_seconds_bucket`. */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** As written: milliseconds in Prometheus text, seconds in OpenMetrics. */
  timestamp?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export interface InvalidLine {
  /** 1-based. */
  line: number;
  text: string;
  reason: string;
}

export interface Exposition {
  families: Map<string, MetricFamily>;
  invalid: InvalidLine[];
  /** Samples read (in every family). */
  sampleCount: number;
  /** `# EOF` was seen (OpenMetrics). */
  eof: boolean;
}

const TYPES = new Set<MetricType>(["counter", "gauge", "histogram", "summary", "untyped", "info", "stateset", "gaugehistogram", "unknown"]);
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const DIRECTIVE = /^#\s*(HELP|TYPE|EOF)(?:\s+(\S+)(?:\s+(.*))?)?$/;
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
/** Suffixes a sample of a typed family may carry, by family type. */
const SUFFIXES: Record<string, readonly string[]> = {
  counter: ["_total", "_created"],
  histogram: ["_bucket", "_sum", "_count", "_created"],
  gaugehistogram: ["_bucket", "_gsum", "_gcount"],
  summary: ["_sum", "_count", "_created"],
  info: ["_info"],
};
const SUFFIX_LIST: readonly [string, string][] = Object.entries(SUFFIXES).flatMap(([type, list]) => list.map((suffix): [string, string] => [type, suffix]));

/** Parses one exposition; never throws. */
export function parsePrometheusText(text: string): Exposition {
  const families = new Map<string, MetricFamily>();
  const invalid: InvalidLine[] = [];
  let sampleCount = 0;
  let eof = false;
  const family = (name: string): MetricFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: "untyped", samples: [] }));
    return f;
  };

  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    const line = raw.trim();
    if (line === "") continue;
    const bad = (reason: string) => invalid.push({ line: i + 1, text: raw.slice(0, 200), reason });
    if (eof) {
      bad("content after # EOF");
      continue;
    }
    if (line.charCodeAt(0) === 35 /* # */) {
      const m = DIRECTIVE.exec(line);
      if (!m) continue; // an ordinary comment
      if (m[1] === "EOF") {
        eof = true;
        continue;
      }
      const name = m[2];
      if (!name || !NAME.test(name) || NAME.exec(name)![0] !== name) {
        bad(`# ${m[1]} without a valid metric name`);
        continue;
      }
      if (m[1] === "HELP") {
        family(name).help = unescapeHelp(m[3] ?? "");
      } else {
        const type = (m[3] ?? "").trim().toLowerCase() as MetricType;
        if (!TYPES.has(type)) bad(`unknown metric type "${m[3] ?? ""}"`);
        else family(name).type = type;
      }
      continue;
    }
    const parsed = parseSampleLine(line);
    if (typeof parsed === "string") {
      bad(parsed);
      continue;
    }
    family(familyOf(parsed.name, families)).samples.push(parsed);
    sampleCount++;
  }
  // HELP/TYPE families that got samples under suffixed names only are kept (with no samples of
  // their own they still say "present, no value"); families made by a suffixed sample alone are not.
  return { families, invalid, sampleCount, eof };
}

/** The family a sample belongs to: its own name if declared, else its name less a suffix its declared family may carry. */
function familyOf(sampleName: string, families: Map<string, MetricFamily>): string {
  const own = families.get(sampleName);
  if (own && (own.type !== "untyped" || own.help !== undefined || own.samples.length > 0)) return sampleName;
  for (const [type, suffix] of SUFFIX_LIST) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = families.get(sampleName.slice(0, -suffix.length));
    if (base && base.type === type) return base.name;
  }
  return sampleName;
}

/** `name{labels} value [timestamp] [# exemplar]`; returns the reason when the line is not one. */
function parseSampleLine(line: string): Sample | string {
  const nameMatch = NAME.exec(line);
  if (!nameMatch) return "not a sample, HELP or TYPE line";
  const name = nameMatch[0];
  let pos = name.length;
  const labels: Record<string, string> = {};
  pos = skipSpaces(line, pos);
  if (line[pos] === "{") {
    const read = readLabels(line, pos + 1, labels);
    if (typeof read === "string") return read;
    pos = read;
  }
  let rest = pos === 0 ? line : line.slice(pos);
  const exemplar = rest.indexOf(" # ");
  if (exemplar >= 0) rest = rest.slice(0, exemplar);
  rest = rest.trim();
  const parts = rest.includes(" ") || rest.includes("\t") ? rest.split(/[ \t]+/) : [rest];
  if (parts.length === 1 && parts[0] === "") parts.pop();
  if (parts.length === 0) return `sample ${name} has no value`;
  if (parts.length > 2) return `sample ${name}: unexpected text after the value`;
  const value = parseValue(parts[0]);
  if (value === undefined) return `sample ${name}: value "${parts[0].slice(0, 40)}" is not a number`;
  const sample: Sample = { name, labels, value };
  if (parts.length === 2) {
    const ts = Number(parts[1]);
    if (!Number.isFinite(ts) || !/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(parts[1])) return `sample ${name}: timestamp "${parts[1].slice(0, 40)}" is not a number`;
    sample.timestamp = ts;
  }
  return sample;
}

function skipSpaces(line: string, pos: number): number {
  while (line[pos] === " " || line[pos] === "\t") pos++;
  return pos;
}

/** Reads `a="x",b="y"}` from pos (just after `{`) into labels; returns the position after `}`. */
function readLabels(line: string, pos: number, labels: Record<string, string>): number | string {
  for (;;) {
    pos = skipSpaces(line, pos);
    if (line[pos] === "}") return pos + 1;
    LABEL_NAME.lastIndex = pos;
    const m = LABEL_NAME.exec(line);
    if (!m) return `bad label name at column ${pos + 1}`;
    const labelName = m[0];
    pos = skipSpaces(line, pos + labelName.length);
    if (line[pos] !== "=") return `label ${labelName}: expected '='`;
    pos = skipSpaces(line, pos + 1);
    if (line[pos] !== '"') return `label ${labelName}: expected a quoted value`;
    pos++;
    let value = "";
    const close = line.indexOf('"', pos);
    const slash = line.indexOf("\\", pos);
    if (close >= 0 && (slash < 0 || slash > close)) {
      // No escape in this value: one slice.
      value = line.slice(pos, close);
      pos = close;
    }
    for (;;) {
      if (pos >= line.length) return `label ${labelName}: unterminated value`;
      const c = line[pos];
      if (c === '"') break;
      if (c === "\\") {
        const next = line[pos + 1];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else return `label ${labelName}: bad escape \\${next ?? ""}`;
        pos += 2;
      } else {
        value += c;
        pos++;
      }
    }
    if (labelName in labels) return `label ${labelName} given twice`;
    labels[labelName] = value;
    pos = skipSpaces(line, pos + 1);
    if (line[pos] === ",") pos++;
    else if (line[pos] !== "}") return `labels: expected ',' or '}' after ${labelName}`;
  }
}

/**
 * A sample value: Go float syntax (what Prometheus accepts), NaN, ±Inf. `nan` and `-nan` in any
 * case are read as NaN too: llama.cpp prints C's `-nan` for 0/0, and it means "no value".
 */
export function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === "nan" || lower === "-nan" || lower === "+nan") return NaN;
  if (lower === "+inf" || lower === "inf") return Infinity;
  if (lower === "-inf") return -Infinity;
  if (!FLOAT.test(text) && !/^[-+]?0[xX][0-9a-fA-F]+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_m, c: string) => (c === "n" ? "\n" : "\\"));
}
