import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import { GetHiveResponseSchema, ListEventsResponseSchema, ListHivesResponseSchema, type QueenService } from "../../gen/apiary/v1/queen_pb.js";
import type { Clock } from "../common/clock.js";
import { findDevices } from "./scheduling/find-devices.js";
import { findWorkers } from "./scheduling/find-workers.js";
import { heartbeat } from "./ingest/heartbeat-handler.js";
import type { HiveClaims } from "./registry/hive-claims.js";
import { labelsMatch } from "../contracts/hive-match.js";
import type { HiveSessions } from "./ingest/hive-sessions.js";
import type { ObjectEvents } from "./registry/object-events.js";
import type { RegistryWriter } from "./registry/registry.js";
import { validateFindDevices, validateFindWorkers, validateGetHive, validateListEvents, validateListHives, watchParams } from "./request-validation.js";
import type { WatchHub } from "./watch/watch-hub.js";
import { watchStream } from "./watch/watch-stream.js";

export interface QueenServiceDeps {
  registry: RegistryWriter;
  hub: WatchHub;
  sessions: HiveSessions;
  /** Several queens: claims a hive in the cluster store before its welcome. */
  claims?: HiveClaims;
  clock: Clock;
  logger: Logger;
  shutdownSignal: AbortSignal;
  reportIntervalMs: number;
  bookmarkIntervalMs: number;
  minBookmarkIntervalMs: number;
  /** Recent events per hive and worker, for ListEvents; absent = UNIMPLEMENTED. */
  events?: ObjectEvents;
}

/** apiary.v1.QueenService over a registry. Every RPC validates its input first. */
export function createQueenService(deps: QueenServiceDeps): ServiceImpl<typeof QueenService> {
  const { registry } = deps;
  return {
    heartbeat: (requests, ctx) => heartbeat(deps, requests, ctx),

    findWorkers(req) {
      validateFindWorkers(req);
      return findWorkers(registry, req);
    },

    findDevices(req) {
      validateFindDevices(req);
      return findDevices(registry, req);
    },

    getHive(req) {
      validateGetHive(req);
      const hive = registry.hive(req.hiveId);
      if (!hive) throw new ConnectError(`hive_id: hive ${JSON.stringify(req.hiveId)} not found`, Code.NotFound);
      return create(GetHiveResponseSchema, { hive: registry.hiveStatus(hive, true), revision: BigInt(registry.revision()) });
    },

    listHives(req) {
      validateListHives(req);
      // Labels only: ListHives shows every hive the queen knows, whatever its health.
      const hives = [...registry.hives()]
        .filter((hive) => labelsMatch(hive.info.labels, req.hiveLabels))
        .sort((a, b) => (a.hiveId < b.hiveId ? -1 : a.hiveId > b.hiveId ? 1 : 0))
        .map((hive) => registry.hiveStatus(hive, !req.omitWorkers));
      return create(ListHivesResponseSchema, { hives, revision: BigInt(registry.revision()) });
    },

    listEvents(req) {
      validateListEvents(req);
      if (!deps.events) throw new ConnectError("this queen keeps no object events", Code.Unimplemented);
      return create(ListEventsResponseSchema, { events: deps.events.list(req.hiveId, req.workerId, req.limit), revision: BigInt(registry.revision()) });
    },

    watch(req, ctx) {
      const params = watchParams(req, deps);
      const json = /json/i.test(ctx.requestHeader.get("content-type") ?? "");
      return watchStream(deps.hub, params, ctx.signal, deps.shutdownSignal, deps.clock, !json);
    },
  };
}
