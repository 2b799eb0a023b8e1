// Starts an RPC server with the dummy hive, for trying clients by hand:
//   PORT=7899 npx tsx tests/rpc/support/demo-server.ts
//   npx buf curl --protocol grpc --http2-prior-knowledge --list-methods http://127.0.0.1:7899
import { HiveService } from "../../../gen/apiary/v1/hive_pb.js";
import { createLogger } from "../../../src/common/logger.js";
import { startRpcServer } from "../../../src/rpc/server.js";
import { onShutdownSignals } from "../../../src/common/shutdown-signals.js";
import { createDummyHive } from "./dummy-hive.js";

async function main(): Promise<void> {
  const logger = createLogger("demo");
  const server = await startRpcServer({
    host: "127.0.0.1",
    port: Number(process.env.PORT ?? 0),
    logger,
    services: [{ service: HiveService, impl: createDummyHive() }],
  });
  onShutdownSignals(() => server.close(), { logger, timeoutMs: 10_000 });
}

void main();
