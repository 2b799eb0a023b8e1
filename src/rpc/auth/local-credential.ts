import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Interceptor } from "@connectrpc/connect";
import { isLoopbackHost } from "../tls/listen-safety.js";

/**
 * The local credential of a server without TLS client authentication or tokens (the default, and
 * `apiary up`): a random token the server writes at start to a 0600 file in a 0700 directory of
 * its own user, as Jupyter does. Loopback is not a trust boundary (other users, worker processes,
 * cross-site requests from a browser all connect from 127.0.0.1); reading this file is. Clients on
 * the same machine and user (the CLI, `buf curl -H`) send it in this header.
 */
export const LOCAL_CREDENTIAL_HEADER = "apiary-local-credential";

/** $APIARY_RUNTIME_DIR, else /run/apiary as root, else $XDG_RUNTIME_DIR/apiary, else ~/.local/state/apiary/run. */
export function localCredentialDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): string {
  if (env.APIARY_RUNTIME_DIR) return env.APIARY_RUNTIME_DIR;
  if (uid === 0) return "/run/apiary";
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, "apiary");
  return path.join(os.homedir(), ".local", "state", "apiary", "run");
}

/** One file per listening port: the port is what a client dialling http://127.0.0.1:PORT knows. */
export function localCredentialFile(port: number, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(localCredentialDir(env), `hive-${port}.credential`);
}

export interface LocalCredential {
  token: string;
  file: string;
  /** Deletes the file if it still holds this token (a later server on the port may have replaced it). */
  remove(): void;
}

/** A fresh token, written (atomically) for `port`. Throws when the directory is not this user's alone. */
export function writeLocalCredential(port: number, token = newLocalToken(), env: NodeJS.ProcessEnv = process.env): LocalCredential {
  const dir = localCredentialDir(env);
  const uid = process.getuid?.() ?? -1;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const info = lstatSync(dir);
  if (!info.isDirectory() || (uid >= 0 && info.uid !== uid)) {
    throw new Error(`${dir}: must be a directory owned by uid ${uid} (it holds local credentials); remove it or set APIARY_RUNTIME_DIR`);
  }
  if ((info.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  const file = localCredentialFile(port, env);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600, flag: "wx" });
  renameSync(tmp, file);
  return {
    token,
    file,
    remove() {
      try {
        if (readFileSync(file, "utf8").trim() === token) rmSync(file, { force: true });
      } catch {
        // already gone
      }
    },
  };
}

export function newLocalToken(): string {
  return `apiary_local_${randomBytes(32).toString("base64url")}`;
}

/** The credential a server on this machine wrote for the URL's port; undefined off loopback, for https, or without a readable file. */
export function readLocalCredential(url: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== "http:" || !isLoopbackHost(u.hostname)) return undefined;
  try {
    return readFileSync(localCredentialFile(Number(u.port || "80"), env), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Client side: sends the local credential of a loopback http:// server, read at each call (the server may restart). */
export function localCredentialInterceptor(baseUrl: string): Interceptor | undefined {
  if (!isLoopbackUrl(baseUrl)) return undefined;
  return (next) => (req) => {
    const token = readLocalCredential(baseUrl);
    if (token !== undefined && !req.header.has(LOCAL_CREDENTIAL_HEADER)) req.header.set(LOCAL_CREDENTIAL_HEADER, token);
    return next(req);
  };
}

function isLoopbackUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === "http:" && isLoopbackHost(u.hostname);
  } catch {
    return false;
  }
}
