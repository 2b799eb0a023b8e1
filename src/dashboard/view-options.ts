/** Filters and sort order of the page, kept in its URL (?model=&hive=&label=k=v&sort=cpu&dir=desc). */
export interface ViewOptions {
  model: string;
  hive: string;
  /** "key=value" (a hive or worker label), or "". */
  label: string;
  sort: string;
  dir: "asc" | "desc";
}

export function readViewOptions(search: string): ViewOptions {
  const q = new URLSearchParams(search);
  return {
    model: q.get("model") ?? "",
    hive: q.get("hive") ?? "",
    label: q.get("label") ?? "",
    sort: q.get("sort") ?? "worker",
    dir: q.get("dir") === "desc" ? "desc" : "asc",
  };
}

export function writeViewOptions(v: ViewOptions): string {
  const q = new URLSearchParams();
  if (v.model) q.set("model", v.model);
  if (v.hive) q.set("hive", v.hive);
  if (v.label) q.set("label", v.label);
  if (v.sort !== "worker") q.set("sort", v.sort);
  if (v.dir !== "asc") q.set("dir", v.dir);
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** True when `labels` carry the filter's key=value (an empty filter matches everything). */
export function labelMatches(filter: string, ...labelSets: Record<string, string>[]): boolean {
  if (!filter) return true;
  const eq = filter.indexOf("=");
  const key = eq === -1 ? filter : filter.slice(0, eq);
  const value = eq === -1 ? undefined : filter.slice(eq + 1);
  return labelSets.some((labels) => key in labels && (value === undefined || labels[key] === value));
}
