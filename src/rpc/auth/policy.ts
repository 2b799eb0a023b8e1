import type { Identity } from "./identity.js";

/**
 * What a call needs:
 * - public: nothing (grpc.health.v1, for load balancers and probes)
 * - authenticated: any identity
 * - read: a reader or admin client, or a queen
 * - write: an admin client or a queen
 * - hive: a hive identity (the server may check more, e.g. a first message naming that hive)
 */
export type Permission = "public" | "authenticated" | "read" | "write" | "hive";

/** The permission each method needs; servers hand in their own (the queen's, the hive's). */
export type PermissionOf = (serviceTypeName: string, methodName: string) => Permission;

/** A server's permission table: by "pkg.Service/Method", else by service. */
export interface PermissionTable {
  methods?: Readonly<Record<string, Permission>>;
  services?: Readonly<Record<string, Permission>>;
}

/** The services every RPC server carries itself (health and reflection, see server.ts). */
const TRANSPORT_SERVICES: Readonly<Record<string, Permission>> = {
  "grpc.health.v1.Health": "public",
  "grpc.reflection.v1.ServerReflection": "authenticated",
  "grpc.reflection.v1alpha.ServerReflection": "authenticated",
};

/** What a method nobody listed needs: a new RPC stays admin-only until someone decides otherwise. */
export const UNLISTED_PERMISSION: Permission = "write";

/**
 * The lookup for a server's table: its method entries, then its service entries, then the
 * transport's own services, else UNLISTED_PERMISSION.
 */
export function permissionTable(table: PermissionTable = {}): PermissionOf {
  const methods = table.methods ?? {};
  const services = { ...TRANSPORT_SERVICES, ...table.services };
  return (service, method) => methods[`${service}/${method}`] ?? services[service] ?? UNLISTED_PERMISSION;
}

/** A server with no table of its own: health is public, reflection needs an identity, the rest admin. */
export const defaultPermissionOf: PermissionOf = permissionTable();

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
