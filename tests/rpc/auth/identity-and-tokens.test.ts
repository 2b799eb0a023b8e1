import { describe, expect, it } from "vitest";
import { identityFromSans, parseSpiffeId, spiffeId } from "../../../src/rpc/auth/identity.js";
import { defaultPermissionOf, permits } from "../../../src/rpc/auth/policy.js";
import { hivePermissionOf } from "../../../src/hive/hive-permissions.js";
import { queenPermissionOf } from "../../../src/queen/queen-permissions.js";
import { TokenStore, newToken, parseTokenFile, tokenFileLine } from "../../../src/rpc/auth/token-store.js";
import { globToRegExp } from "../../../src/hive/workers/program-allow-list.js";
import { checkListenSecurity, isLoopbackHost } from "../../../src/rpc/tls/listen-safety.js";

describe("SPIFFE identities", () => {
  it("round-trips hive, queen and client IDs; the role is a path segment", () => {
    expect(spiffeId({ kind: "hive", name: "gpu-7" })).toBe("spiffe://apiary/hive/gpu-7");
    expect(spiffeId({ kind: "client", name: "alice", role: "admin" })).toBe("spiffe://apiary/client/admin/alice");
    expect(parseSpiffeId("spiffe://apiary/client/admin/alice")).toEqual({ kind: "client", name: "alice", role: "admin" });
    expect(parseSpiffeId("spiffe://apiary/queen/main")).toEqual({ kind: "queen", name: "main" });
  });

  it("reads a one-segment client as a reader and rejects what is not apiary's", () => {
    expect(parseSpiffeId("spiffe://apiary/client/bob")).toEqual({ kind: "client", name: "bob", role: "reader" });
    expect(parseSpiffeId("spiffe://apiary/client/root/bob")).toBeUndefined();
    expect(parseSpiffeId("spiffe://other/hive/h1")).toBeUndefined();
    expect(parseSpiffeId("spiffe://apiary/hive/h1/extra")).toBeUndefined();
    expect(parseSpiffeId("spiffe://apiary/hive/h%2F1")).toBeUndefined();
    expect(() => spiffeId({ kind: "hive", name: "a/b" })).toThrow(/SPIFFE ID segment/);
  });

  it("takes the identity from node's subjectaltname; two different apiary IDs count as none", () => {
    expect(identityFromSans("DNS:localhost, URI:spiffe://apiary/hive/h1, IP Address:127.0.0.1")).toEqual({ kind: "hive", name: "h1" });
    expect(identityFromSans("URI:spiffe://apiary/hive/h1, URI:spiffe://apiary/hive/h2")).toBeUndefined();
    expect(identityFromSans("DNS:localhost")).toBeUndefined();
  });
});

describe("policy", () => {
  it("maps methods to permissions by the server's own table; an unknown HiveService method needs write", () => {
    expect(queenPermissionOf("apiary.v1.QueenService", "FindWorkers")).toBe("authenticated");
    expect(queenPermissionOf("apiary.v1.QueenService", "Heartbeat")).toBe("hive");
    expect(queenPermissionOf("apiary.v1.QueenPeerService", "FollowHeldHives")).toBe("write");
    expect(hivePermissionOf("apiary.v1.HiveService", "ListWorkers")).toBe("read");
    expect(hivePermissionOf("apiary.v1.HiveService", "SpawnWorker")).toBe("write");
    expect(hivePermissionOf("apiary.v1.HiveService", "SomethingNew")).toBe("write");
    expect(hivePermissionOf("grpc.health.v1.Health", "Check")).toBe("public");
    expect(queenPermissionOf("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo")).toBe("authenticated");
  });

  it("without a table, only health is public and reflection needs an identity: every other method is admin-only", () => {
    expect(defaultPermissionOf("grpc.health.v1.Health", "Check")).toBe("public");
    expect(defaultPermissionOf("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo")).toBe("authenticated");
    expect(defaultPermissionOf("apiary.v1.QueenService", "FindWorkers")).toBe("write");
    expect(defaultPermissionOf("apiary.v1.HiveService", "ListWorkers")).toBe("write");
  });

  it("grants by kind and role", () => {
    const reader = { kind: "client", name: "r", role: "reader" } as const;
    const admin = { kind: "client", name: "a", role: "admin" } as const;
    expect(permits(reader, "read")).toBe(true);
    expect(permits(reader, "write")).toBe(false);
    expect(permits(admin, "write")).toBe(true);
    expect(permits({ kind: "queen", name: "q" }, "write")).toBe(true);
    expect(permits({ kind: "hive", name: "h" }, "read")).toBe(false);
    expect(permits(admin, "hive")).toBe(false);
  });
});

describe("token file", () => {
  it("stores only hashes and finds the owner of a token", () => {
    const token = newToken();
    const line = tokenFileLine("grafana", "reader", token);
    expect(line).not.toContain(token.slice(7));
    const store = new TokenStore(parseTokenFile(`# comment\n\n${line}\n`));
    expect(store.identify(token)).toEqual({ kind: "client", name: "grafana", role: "reader" });
    expect(store.identify(newToken())).toBeUndefined();
  });

  it("names the line of a malformed entry", () => {
    expect(() => parseTokenFile("ok admin sha256:" + "0".repeat(64) + "\nbad reader plaintext-token\n", "tokens")).toThrow(/^tokens:2: expected sha256:/);
    expect(() => parseTokenFile("x root sha256:" + "0".repeat(64), "tokens")).toThrow(/tokens:1: role "root"/);
  });
});

describe("allow-list globs and loopback", () => {
  it("matches * within a segment and ** across", () => {
    expect(globToRegExp("/opt/vllm/bin/*").test("/opt/vllm/bin/vllm")).toBe(true);
    expect(globToRegExp("/opt/vllm/bin/*").test("/opt/vllm/bin/sub/x")).toBe(false);
    expect(globToRegExp("/opt/**").test("/opt/a/b/c")).toBe(true);
    expect(globToRegExp("/usr/bin/llama-?").test("/usr/bin/llama-s")).toBe(true);
    expect(globToRegExp("/usr/bin/a.b").test("/usr/bin/aXb")).toBe(false);
  });

  it("knows loopback addresses", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.5", "", "example.com"]) expect(isLoopbackHost(h)).toBe(false);
    expect(checkListenSecurity({ host: "10.0.0.5", tls: true, clientAuth: true, insecure: false })).toBeUndefined();
  });
});
