import { HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import type { SchedulingHive } from "./scheduling-entry.js";

export interface HiveFilter {
  hiveIds: readonly string[];
  hiveLabels: { readonly [k: string]: string };
  includeDegraded: boolean;
}

type FilterableHive = Pick<SchedulingHive, "health" | "info">;

/** Health and label filters shared by FindWorkers and FindDevices. DOWN hives never match. */
export function hiveMatches(hive: FilterableHive, filter: HiveFilter): boolean {
  if (hive.health === HiveHealth.DOWN) return false;
  if (hive.health !== HiveHealth.HEALTHY && !filter.includeDegraded) return false;
  return labelsMatch(hive.info.labels, filter.hiveLabels);
}

/** {@link hiveMatches} for one filter, with its label keys listed once: for per-worker checks in a scan. */
export function hivePredicate(filter: HiveFilter): (hive: FilterableHive) => boolean {
  const keys = Object.keys(filter.hiveLabels);
  const wanted = filter.hiveLabels;
  const includeDegraded = filter.includeDegraded;
  return (hive) => {
    const health = hive.health;
    if (health !== HiveHealth.HEALTHY && (health === HiveHealth.DOWN || !includeDegraded)) return false;
    if (keys.length === 0) return true;
    const labels = hive.info.labels;
    for (let i = 0; i < keys.length; i++) if (labels[keys[i]] !== wanted[keys[i]]) return false;
    return true;
  };
}

/** Every wanted label is present with the wanted value. */
export function labelsMatch(labels: { readonly [k: string]: string }, wanted: { readonly [k: string]: string }): boolean {
  for (const key in wanted) if (labels[key] !== wanted[key]) return false;
  return true;
}
