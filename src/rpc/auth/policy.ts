import type { Identity } from "./identity.js";

/**
 * What a call needs:
 * - public: nothing (grpc.health.v1, for load balancers and probes)
 * - authenticated: any identity (queen reads, reflection)
 * - read: a reader or admin client, or a queen (HiveService reads)
 * - write: an admin client or a queen (HiveService SpawnWorker, StopWorker)
 * - hive: a hive identity; Heartbeat also checks the hello's hive_id against it
 */
export type Permission = "public" | "authenticated" | "read" | "write" | "hive";

const METHODS: Record<string, Permission> = {
  "apiary.v1.QueenService/Heartbeat": "hive",
  "apiary.v1.HiveService/SpawnWorker": "write",
  "apiary.v1.HiveService/StopWorker": "write",
  "apiary.v1.HiveService/ListWorkers": "read",
  "apiary.v1.HiveService/WatchTelemetry": "read",
  "apiary.v1.HiveService/StreamWorkerLogs": "read",
};

const SERVICES: Record<string, Permission> = {
  "grpc.health.v1.Health": "public",
  "apiary.v1.QueenService": "authenticated",
  // Internal to a cluster of queens: another queen, or an admin debugging it.
  "apiary.v1.QueenPeerService": "write",
  "grpc.reflection.v1.ServerReflection": "authenticated",
  "grpc.reflection.v1alpha.ServerReflection": "authenticated",
};

/**
 * The permission a method needs. A HiveService method not listed here needs "write": a new RPC on
 * the service that runs programs stays admin-only until someone decides it is a read.
 */
export function requiredPermission(serviceTypeName: string, methodName: string): Permission {
  return METHODS[`${serviceTypeName}/${methodName}`] ?? SERVICES[serviceTypeName] ?? "write";
}

export function permits(identity: Identity, permission: Permission): boolean {
  switch (permission) {
    case "public":
    case "authenticated":
      return true;
    case "read":
      return identity.kind === "queen" || identity.kind === "client";
    case "write":
      return identity.kind === "queen" || (identity.kind === "client" && identity.role === "admin");
    case "hive":
      return identity.kind === "hive";
  }
}

/** "needs a reader or admin client, or a queen": the tail of a PERMISSION_DENIED message. */
export function describePermission(permission: Permission): string {
  switch (permission) {
    case "public":
      return "nothing";
    case "authenticated":
      return "any authenticated caller";
    case "read":
      return "a client with role reader or admin, or a queen";
    case "write":
      return "a client with role admin, or a queen";
    case "hive":
      return "a hive certificate (spiffe://apiary/hive/<hive_id>)";
  }
}
