import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
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

/** How long a credential file's content is trusted before its inode, size and times are looked at again. */
export const CREDENTIAL_RECHECK_MS = 1_000;

export interface CredentialFileReaderOptions {
  /** At most one stat per this many ms; default CREDENTIAL_RECHECK_MS. 0: a stat at every read. */
  recheckMs?: number;
  /** Only a regular file of this user with no group or other permission counts (the server's side). */
  requirePrivate?: boolean;
  now?: () => number;
}

/** A credential file's content, read once and again only when it changed. */
export interface CredentialFileReader {
  /** The token, or undefined when the file is missing, empty, unreadable (or, with requirePrivate, not private). */
  read(): string | undefined;
  /** The next read stats the file whatever the time (e.g. after the server refused the token). */
  invalidate(): void;
}

/**
 * Reads a credential file at most once per change: a stat (inode, size, mtime, ctime) at most once
 * per `recheckMs`, a read only when those moved. A rotated or removed file stops counting within
 * `recheckMs`, never later.
 */
export function credentialFileReader(file: string, opts: CredentialFileReaderOptions = {}): CredentialFileReader {
  const recheckMs = opts.recheckMs ?? CREDENTIAL_RECHECK_MS;
  const now = opts.now ?? Date.now;
  let checkedAt = -Infinity;
  let version = "";
  let token: string | undefined;
  const uid = process.getuid?.() ?? -1;
  return {
    read() {
      const t = now();
      if (t - checkedAt < recheckMs) return token;
      checkedAt = t;
      const st = statSync(file, { throwIfNoEntry: false, bigint: true });
      if (!st || !st.isFile() || (opts.requirePrivate && ((st.mode & 0o077n) !== 0n || (uid >= 0 && st.uid !== BigInt(uid))))) {
        version = "";
        token = undefined;
        return token;
      }
      const seen = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      if (seen === version) return token;
      try {
        token = readFileSync(file, "utf8").trim() || undefined;
        version = seen;
      } catch {
        token = undefined;
        version = "";
      }
      return token;
    },
    invalidate() {
      checkedAt = -Infinity;
    },
  };
}

/** The port of a loopback http:// URL, else undefined (https, another host, not a URL). */
function loopbackPort(url: string): number | undefined {
  try {
    const u = new URL(url);
    return u.protocol === "http:" && isLoopbackHost(u.hostname) ? Number(u.port || "80") : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Client side: sends the local credential of a loopback http:// server. The file is read once and
 * again when it changed (a stat at most every CREDENTIAL_RECHECK_MS, and at the next call after an
 * UNAUTHENTICATED or UNAVAILABLE answer: the server may have restarted and written a new one).
 */
export function localCredentialInterceptor(baseUrl: string, opts: CredentialFileReaderOptions = {}): Interceptor | undefined {
  const port = loopbackPort(baseUrl);
  if (port === undefined) return undefined;
  const file = localCredentialFile(port);
  const credential = credentialFileReader(file, opts);
  return (next) => async (req) => {
    const token = credential.read();
    if (token !== undefined && !req.header.has(LOCAL_CREDENTIAL_HEADER)) req.header.set(LOCAL_CREDENTIAL_HEADER, token);
    try {
      return await next(req);
    } catch (err) {
      if (!(err instanceof ConnectError)) throw err;
      // Refused, or nobody listening: the server may have restarted (and written a new file) by the next call.
      if (err.code === Code.Unauthenticated || err.code === Code.Unavailable) credential.invalidate();
      if (token !== undefined && err.code === Code.Unavailable && /ECONNREFUSED/.test(err.rawMessage)) {
        // A server killed without cleanup (SIGKILL) leaves its file; say so rather than only "refused".
        throw new ConnectError(`${err.rawMessage}: no server listens on port ${port}; ${file} is left from one that did not shut down cleanly (a new one replaces it)`, Code.Unavailable, err.metadata, undefined, err);
      }
      throw err;
    }
  };
}
