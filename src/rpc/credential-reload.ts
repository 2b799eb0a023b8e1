import type * as tls from "node:tls";
import type { pino } from "pino";
import type { TokenStore } from "./auth/token-store.js";
import type { ReloadResult, ServerSecurity } from "./server-options.js";
import { DirectoryWatcher, loadServerTls, type LoadedTls } from "./tls/server-credentials.js";

export interface CredentialReload {
  /** Re-reads certificates and tokens; a failure keeps the previous ones. */
  reload(): ReloadResult;
  /** Stops watching the files and listening for SIGHUP. */
  close(): void;
}

/**
 * Reloads the server's TLS files and token file on SIGHUP and, unless watchCredentials is false,
 * when they change on disk; new connections get the new certificate, open ones keep theirs.
 */
export function startCredentialReload(o: {
  security: ServerSecurity;
  loaded: LoadedTls | undefined;
  tokens: TokenStore | undefined;
  setSecureContext: (options: tls.SecureContextOptions) => void;
  logger: pino.Logger;
  url: string;
}): CredentialReload {
  const { security, tokens, logger, url } = o;
  let loaded = o.loaded;
  const reload = (): ReloadResult => {
    try {
      let changed = false;
      if (security.tls && loaded) {
        const next = loadServerTls(security.tls);
        if (next.fingerprint !== loaded.fingerprint) {
          o.setSecureContext(next.options);
          loaded = next;
          changed = true;
        }
      }
      if (security.tokenFile && tokens) {
        changed = tokens.reload(security.tokenFile) || changed;
      }
      if (changed) logger.info({ url }, "credentials reloaded; new connections use them");
      return { ok: true, changed };
    } catch (err) {
      const error = (err as Error).message;
      logger.error({ url, err: error }, "credentials not reloaded; keeping the previous ones");
      return { ok: false, changed: false, error };
    }
  };
  const files = [security.tls?.certFile, security.tls?.keyFile, security.tls?.clientCaFile, security.tokenFile].filter((f): f is string => f !== undefined);
  const watcher = files.length > 0 && security.watchCredentials !== false ? new DirectoryWatcher(files, reload) : undefined;
  const onSighup = (): void => void reload();
  if (files.length > 0) process.on("SIGHUP", onSighup);
  return {
    reload,
    close() {
      watcher?.close();
      process.off("SIGHUP", onSighup);
    },
  };
}
