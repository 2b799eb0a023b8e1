import { createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { createApiaryTransport } from "../rpc/transport.js";

const KINDS = { queen: "apiary.v1.QueenService", hive: "apiary.v1.HiveService" } as const;
export type ServerKind = keyof typeof KINDS;

/**
 * Which apiary server listens at url, asked through grpc.health.v1 (both serve it with their
 * service names); undefined when it answers neither or not at all within timeoutMs.
 */
export async function identifyServer(url: string, timeoutMs = 3000): Promise<ServerKind | undefined> {
  const client = createClient(Health, createApiaryTransport(url));
  for (const [kind, service] of Object.entries(KINDS) as [ServerKind, string][]) {
    try {
      const res = await client.check({ service }, { timeoutMs });
      if (res.status === ServingStatus.SERVING || res.status === ServingStatus.NOT_SERVING) return kind;
    } catch {
      // NOT_FOUND for a service it does not serve; anything else: try the next.
    }
  }
  return undefined;
}

const DEFAULT_PORTS: Record<ServerKind, number> = { queen: 7833, hive: 7835 };

/** The line for a call that reached a server without the wanted service. */
export async function wrongServerMessage(wanted: ServerKind, url: string): Promise<string> {
  const actual = await identifyServer(url);
  if (actual && actual !== wanted) {
    return `${url} is a ${actual}, not a ${wanted} (a ${wanted} listens on port ${DEFAULT_PORTS[wanted]} by default)`;
  }
  return `${url} does not serve the ${wanted} API (${KINDS[wanted]}): is it an apiary ${wanted}?`;
}
