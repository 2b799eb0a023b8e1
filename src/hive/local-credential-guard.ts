import { timingSafeEqual, createHash } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { peerKey } from "../rpc/auth/authenticator.js";
import { LOCAL_CREDENTIAL_HEADER } from "../rpc/auth/local-credential.js";
import { requiredPermission } from "../rpc/auth/policy.js";
import type { WriteAudit } from "./write-audit.js";

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/**
 * On a hive that authenticates no one (no client CA, no tokens: plaintext on loopback, `apiary up`),
 * the HiveService writes (SpawnWorker, StopWorker, any new method) need the hive's local credential
 * (src/rpc/auth/local-credential.ts) in the apiary-local-credential header, or as a bearer token.
 * Stops: another local user, or a cross-site page in the operator's browser, spawning programs as
 * the hive's user (root) through 127.0.0.1. Reads stay open on loopback (docs/security.md, the model).
 * Runs before the body is used; the refusal is UNAUTHENTICATED and is audited.
 */
export function localCredentialGuard(token: string, file: () => string, audit: WriteAudit): Interceptor {
  const expected = digest(token);
  return (next) => async (req) => {
    if (req.service.typeName !== HiveService.typeName || requiredPermission(req.service.typeName, req.method.name) !== "write") return next(req);
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.header.get("authorization") ?? "")?.[1];
    const presented = req.header.get(LOCAL_CREDENTIAL_HEADER) ?? bearer;
    if (presented === undefined || presented === null || !timingSafeEqual(digest(presented), expected)) {
      const why = presented ? "a wrong local credential" : "no local credential";
      const message =
        `${req.method.name}: this hive authenticates no client (no --client-ca, no --token-file), so its writes need its local credential: ` +
        `the ${LOCAL_CREDENTIAL_HEADER} header with the token in ${file()} (readable by the hive's user only; the apiary CLI on this machine sends it); got ${why}`;
      if (req.method.name === "SpawnWorker" || req.method.name === "StopWorker") {
        audit.record({ method: req.method.name, caller: "anonymous", peer: req.contextValues.get(peerKey).address, outcome: Code[Code.Unauthenticated], message: why });
      }
      throw new ConnectError(message, Code.Unauthenticated);
    }
    return next(req);
  };
}
