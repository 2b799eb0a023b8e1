import type { FindWorkersRequest, FindWorkersResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { answerFindWorkers, hiveFilterOf } from "../../contracts/find-workers-query.js";
import type { HiveFilter } from "../../contracts/hive-match.js";
import { candidateHives } from "./hive-filter.js";
import type { RegistryReadView } from "../registry/registry.js";
import type { SchedulingEntry } from "../registry/scheduling-entries.js";

/** Answers FindWorkers over a validated request, with the filters and orders a client's informer uses too. */
export function findWorkers(registry: RegistryReadView, req: FindWorkersRequest): FindWorkersResponse {
  return answerFindWorkers(entryLists(registry, req.model, hiveFilterOf(req)), req, BigInt(registry.revision()));
}

/**
 * The entries that can match: with hive ids, those of the named hives (looked up, not scanned);
 * else, with a model, only the model's lists; else every list.
 */
function* entryLists(registry: RegistryReadView, model: string, filter: HiveFilter): Iterable<readonly SchedulingEntry[]> {
  if (filter.hiveIds.length > 0) {
    for (const hive of candidateHives(registry, filter)) {
      const entries = [...hive.schedulingEntries.values()];
      yield model === "" ? entries : entries.filter((e) => e.worker.model === model);
    }
    return;
  }
  if (model === "") yield* registry.allSchedulingLists();
  else yield* registry.schedulingListsOfModel(model);
}
