import { createClient, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { startQueen, type Queen, type StartQueenOptions } from "../../../src/queen/queen.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";

/** A real queen on a free loopback port, and a gRPC client for it. */
export async function startTestQueen(options: StartQueenOptions = {}): Promise<{ queen: Queen; client: Client<typeof QueenService> }> {
  const queen = await startQueen({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }), shutdownGraceMs: 500, ...options });
  const client = createClient(QueenService, createApiaryTransport(queen.url));
  return { queen, client };
}
