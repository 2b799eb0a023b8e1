import { HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import type { HiveView, Registry } from "./registry.js";

export interface HiveFilter {
  hiveIds: readonly string[];
  hiveLabels: { readonly [k: string]: string };
  includeDegraded: boolean;
}

/** Health and label filters shared by FindWorkers and FindDevices. DOWN hives never match. */
export function hiveMatches(hive: HiveView, filter: HiveFilter): boolean {
  if (hive.health === HiveHealth.DOWN) return false;
  if (hive.health !== HiveHealth.HEALTHY && !filter.includeDegraded) return false;
  return labelsMatch(hive.info.labels, filter.hiveLabels);
}

/** Every wanted label is present with the wanted value. */
export function labelsMatch(labels: { readonly [k: string]: string }, wanted: { readonly [k: string]: string }): boolean {
  for (const key in wanted) if (labels[key] !== wanted[key]) return false;
  return true;
}

/** The hives a query may look at: the named ones (looked up, not scanned), or all of them. */
export function* candidateHives(registry: Registry, filter: HiveFilter): Iterable<HiveView> {
  if (filter.hiveIds.length > 0) {
    for (const id of new Set(filter.hiveIds)) {
      const hive = registry.hive(id);
      if (hive && hiveMatches(hive, filter)) yield hive;
    }
    return;
  }
  for (const hive of registry.hives()) if (hiveMatches(hive, filter)) yield hive;
}
