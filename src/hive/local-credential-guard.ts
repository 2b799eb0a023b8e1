import { timingSafeEqual, createHash } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { singleHeader, type HeaderCheck } from "../rpc/admission/header-check.js";
import { credentialFileReader, LOCAL_CREDENTIAL_HEADER, type CredentialFileReader, type CredentialFileReaderOptions } from "../rpc/auth/local-credential.js";
import { hivePermissionOf } from "./hive-permissions.js";
import type { WriteAudit } from "./write-audit.js";

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/**
 * On a hive that authenticates no one (no client CA, no tokens: plaintext on loopback, `apiary up`),
 * the HiveService writes (SpawnWorker, StopWorker, any new method) need the hive's local credential
 * (src/rpc/auth/local-credential.ts) in the apiary-local-credential header, or as a bearer token.
 * Stops: another local user, or a cross-site page in the operator's browser, spawning programs as
 * the hive's user (root) through 127.0.0.1. Reads stay open on loopback (docs/security.md, the model).
 * It is the server's header check (RpcServerOptions.headerCheck): decided from the headers before
 * any body byte is read, so an anonymous 4 MiB write costs the hive nothing to refuse; the refusal
 * is UNAUTHENTICATED and is audited.
 *
 * The file is the credential: what it holds now is admitted, re-read only when it changed (a stat
 * at most every recheckMs). A file rotated, removed, or opened to group/other stops admitting the
 * old secret within recheckMs. `file` is undefined until the hive wrote it (nothing is admitted).
 */
export function localCredentialCheck(file: () => string | undefined, audit: WriteAudit, opts: CredentialFileReaderOptions = {}): HeaderCheck {
  let reader: { file: string; credential: CredentialFileReader } | undefined;
  const current = (): { file: string | undefined; token: string | undefined } => {
    const name = file();
    if (name === undefined) return { file: undefined, token: undefined };
    if (reader?.file !== name) reader = { file: name, credential: credentialFileReader(name, { ...opts, requirePrivate: true }) };
    return { file: name, token: reader.credential.read() };
  };
  return (call) => {
    if (call.service !== HiveService.typeName || hivePermissionOf(call.service, call.method) !== "write") return undefined;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(singleHeader(call.headers, "authorization") ?? "")?.[1];
    const presented = singleHeader(call.headers, LOCAL_CREDENTIAL_HEADER) ?? bearer;
    const expected = current();
    if (presented !== undefined && expected.token !== undefined && timingSafeEqual(digest(presented), digest(expected.token))) return undefined;
    const why = expected.token === undefined ? "the local credential file is missing or not private to the hive's user" : presented ? "a wrong local credential" : "no local credential";
    const message =
      `${call.method}: this hive authenticates no client (no --client-ca, no --token-file), so its writes need its local credential: ` +
      `the ${LOCAL_CREDENTIAL_HEADER} header with the token in ${expected.file ?? "the hive's local credential file"} (readable by the hive's user only; the apiary CLI on this machine sends it); got ${why}`;
    if (call.method === "SpawnWorker" || call.method === "StopWorker") {
      audit.recordRefusal({ method: call.method, caller: "anonymous", peer: call.peer.address, outcome: Code[Code.Unauthenticated], message: why });
    }
    return { code: Code.Unauthenticated, message };
  };
}
