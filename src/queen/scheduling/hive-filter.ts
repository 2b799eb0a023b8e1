import { hiveMatches, type HiveFilter } from "../../contracts/hive-match.js";
import type { HiveView, RegistryReadView } from "../registry/registry.js";

/** The hives a query may look at: the named ones (looked up, not scanned), or all of them. */
export function* candidateHives(registry: RegistryReadView, filter: HiveFilter): Iterable<HiveView> {
  if (filter.hiveIds.length > 0) {
    for (const id of new Set(filter.hiveIds)) {
      const hive = registry.hive(id);
      if (hive && hiveMatches(hive, filter)) yield hive;
    }
    return;
  }
  for (const hive of registry.hives()) if (hiveMatches(hive, filter)) yield hive;
}
