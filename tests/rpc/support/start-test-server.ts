import { HiveService } from "../../../gen/apiary/v1/hive_pb.js";
import { createLogger } from "../../../src/common/logger.js";
import { hivePermissionOf } from "../../../src/hive/hive-permissions.js";
import { startRpcServer, type RpcServer, type RpcServerOptions } from "../../../src/rpc/server.js";
import { createDummyHive } from "./dummy-hive.js";

/** A real server on 127.0.0.1, a free port, serving the dummy hive. */
export function startTestServer(overrides: Partial<RpcServerOptions> = {}): Promise<RpcServer> {
  return startRpcServer({
    host: "127.0.0.1",
    port: 0,
    logger: createLogger("rpc-test", { level: process.env.APIARY_LOG_LEVEL ?? "silent" }),
    services: [{ service: HiveService, impl: createDummyHive() }],
    permissionOf: hivePermissionOf,
    ...overrides,
  });
}
