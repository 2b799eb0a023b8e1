import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { permissionTable, type Permission } from "../rpc/auth/policy.js";

const M = HiveService.method;
const entries: [string, Permission][] = [
  [M.spawnWorker.name, "write"],
  [M.stopWorker.name, "write"],
  [M.listWorkers.name, "read"],
  [M.watchTelemetry.name, "read"],
  [M.streamWorkerLogs.name, "read"],
];

/**
 * What each HiveService RPC needs: reads for a reader client or a queen, writes (they run
 * programs as the hive's user) for an admin client or a queen. A method not listed here needs
 * write: a new RPC on the service that runs programs stays admin-only until someone decides.
 */
export const hivePermissionOf = permissionTable({
  methods: Object.fromEntries(entries.map(([method, permission]) => [`${HiveService.typeName}/${method}`, permission])),
});
