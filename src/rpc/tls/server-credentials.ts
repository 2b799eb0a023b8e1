import { readFileSync, watch, type FSWatcher } from "node:fs";
import path from "node:path";
import * as tls from "node:tls";

export interface ServerTlsFiles {
  /** PEM certificate chain of the server (leaf first). */
  certFile: string;
  /** PEM private key of that certificate. */
  keyFile: string;
  /** PEM CA bundle that client certificates must chain to; unset: no client certificates asked for. */
  clientCaFile?: string;
}

export interface LoadedTls {
  options: tls.SecureContextOptions;
  /** What was read, to tell whether a reload changed anything. */
  fingerprint: string;
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Reads the files and checks that they make a usable context (key matches certificate, PEM parses). */
export function loadServerTls(files: ServerTlsFiles): LoadedTls {
  const cert = read(files.certFile, "TLS certificate");
  const key = read(files.keyFile, "TLS key");
  const ca = files.clientCaFile ? read(files.clientCaFile, "client CA") : undefined;
  const options: tls.SecureContextOptions = { cert, key, ...(ca ? { ca } : {}), minVersion: "TLSv1.2" };
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new Error(`TLS files ${files.certFile}, ${files.keyFile}: ${(err as Error).message}`);
  }
  return { options, fingerprint: [cert, key, ca ?? Buffer.alloc(0)].map((b) => b.toString("base64")).join(".") };
}

/**
 * Calls onChange (debounced) when anything changes in the directories holding `files`. Whole
 * directories are watched because certificates are usually replaced by rename (cert-manager,
 * Kubernetes secret volumes swap a symlink), which a watch on the old file would miss.
 */
export class DirectoryWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(files: string[], onChange: () => void, debounceMs = 200) {
    const dirs = new Set(files.map((f) => path.dirname(path.resolve(f))));
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => {
          clearTimeout(this.timer);
          this.timer = setTimeout(onChange, debounceMs);
          this.timer.unref();
        });
        w.on("error", () => {});
        this.watchers.push(w);
      } catch {
        // no inotify here: SIGHUP still reloads
      }
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }
}
