import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { join } from "node:path";
import type { PemPair } from "../../src/rpc/tls/pki.js";
import { EtcdClient, type EtcdClientOptions } from "../../src/etcd/etcd-client.js";
import { isAlive } from "./processes.js";
import { waitUntil } from "./wait.js";
import { freePort } from "../../src/common/free-port.js";

/**
 * Real etcd members for tests: child processes on free loopback ports with their data on tmpfs.
 * Each member runs under a small sh keeper that reads its stdin: when this process ends in any way
 * (even SIGKILL) the pipe closes and the keeper kills etcd and removes its data directory.
 */
const ETCD = process.env.ETCD_BIN ?? "etcd";
const READY_MS = 30_000;
const KEEPER = '"$APIARY_ETCD_BIN" "$@" </dev/null & p=$!; echo "$p"; read _ignored; kill -9 "$p" 2>/dev/null; rm -rf "$APIARY_ETCD_DATA"';

export interface EtcdTls {
  ca: PemPair;
  /** The members' server certificate (SANs 127.0.0.1 / localhost). */
  server: PemPair;
  /** Require client certificates signed by the CA. */
  clientCertAuth?: boolean;
}

export interface StartEtcdOptions {
  members?: 1 | 3;
  tls?: EtcdTls;
  /** More etcd flags, e.g. "--auth-token-ttl=1". */
  extraArgs?: string[];
}

export class EtcdMember {
  pid = 0;
  private keepers: ChildProcess[] = [];
  private stderr = "";

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    private readonly args: string[],
    private readonly tlsFiles: { ca?: string; cert?: string; key?: string },
  ) {}

  /** Starts etcd (again, on the same data directory). Resolves once etcd has printed its pid. */
  async start(): Promise<void> {
    const keeper = spawn("sh", ["-c", KEEPER, "sh", ...this.args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, APIARY_ETCD_BIN: ETCD, APIARY_ETCD_DATA: this.dataDir },
    });
    this.keepers.push(keeper);
    keeper.stderr!.on("data", (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    this.pid = await new Promise<number>((resolve, reject) => {
      keeper.stdout!.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      keeper.once("exit", () => reject(new Error(`etcd keeper of ${this.name} exited: ${this.stderr}`)));
    });
  }

  /** kill -9; resolves when the process is gone. */
  async kill(): Promise<void> {
    process.kill(this.pid, "SIGKILL");
    await waitUntil(() => !isAlive(this.pid), `etcd ${this.name} (pid ${this.pid}) to die`);
  }

  pause(): void {
    process.kill(this.pid, "SIGSTOP");
  }

  resume(): void {
    process.kill(this.pid, "SIGCONT");
  }

  async restart(): Promise<void> {
    await this.start();
    await this.waitHealthy();
  }

  /** /health answers {"health":"true"} (the member has a leader and serves reads). */
  async waitHealthy(): Promise<void> {
    await waitUntil(() => this.healthy(), `etcd ${this.name} healthy (stderr: ${this.stderr.slice(-500)})`, READY_MS, 50);
  }

  async healthy(): Promise<boolean> {
    const url = new URL("/health", this.clientUrl);
    const get = url.protocol === "https:" ? https.get : http.get;
    const f = this.tlsFiles;
    const tls = f.ca && f.cert && f.key ? { ca: readFileSync(f.ca), cert: readFileSync(f.cert), key: readFileSync(f.key) } : {};
    return new Promise<boolean>((resolve) => {
      const req = get(url, { ...tls, timeout: 1_000 }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(/"health":\s*"true"/.test(body)));
        res.on("error", () => resolve(false));
      });
      req.on("error", () => resolve(false));
      req.on("timeout", () => req.destroy());
    });
  }

  /** Ends the keepers (they kill etcd and remove the data directory). */
  async stop(): Promise<void> {
    if (this.pid !== 0 && isAlive(this.pid)) {
      try {
        process.kill(this.pid, "SIGCONT");
      } catch {
        // already gone
      }
    }
    await Promise.all(
      this.keepers.map(
        (k) =>
          new Promise<void>((resolve) => {
            if (k.exitCode !== null || k.signalCode !== null) return resolve();
            k.once("exit", () => resolve());
            k.stdin!.end();
          }),
      ),
    );
    this.keepers = [];
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export class EtcdCluster {
  private readonly clients: EtcdClient[] = [];

  constructor(
    readonly members: EtcdMember[],
    private readonly root: string,
    readonly clientTls: { ca?: string; cert?: string; key?: string } = {},
  ) {}

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** A client on every member, closed with the cluster. */
  client(options: Partial<EtcdClientOptions> = {}): EtcdClient {
    const c = new EtcdClient({
      endpoints: this.endpoints,
      callTimeoutMs: 2_000,
      ...(this.clientTls.ca ? { tls: { caFile: this.clientTls.ca, certFile: this.clientTls.cert, keyFile: this.clientTls.key } } : {}),
      ...options,
    });
    this.clients.push(c);
    return c;
  }

  /** The member that is the Raft leader now, as the members themselves say. */
  async leader(): Promise<EtcdMember> {
    for (const m of this.members) {
      const c = this.client({ endpoints: [m.clientUrl], retryBudgetMs: 1_000 });
      try {
        const s = await c.status();
        if (s.leader !== 0n && s.leader === s.header?.memberId) return m;
      } catch {
        // down or paused
      } finally {
        await c.close();
      }
    }
    throw new Error("no etcd member says it is the leader");
  }

  /** kill -9 every member (etcd entirely gone). */
  async killAll(): Promise<void> {
    await Promise.all(this.members.map((m) => m.kill()));
  }

  /** Starts every member again on its data directory and waits until each is healthy. */
  async restartAll(): Promise<void> {
    await Promise.all(this.members.map((m) => m.start()));
    await Promise.all(this.members.map((m) => m.waitHealthy()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    await Promise.all(this.members.map((m) => m.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}


/** Starts 1 or 3 etcd members and resolves once each answers /health. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const n = options.members ?? 1;
  const root = mkdtempSync("/dev/shm/apiary-etcd-");
  const scheme = options.tls ? "https" : "http";
  const files: { ca?: string; cert?: string; key?: string } = {};
  const serverArgs: string[] = [];
  if (options.tls) {
    const dir = join(root, "tls");
    mkdirSync(dir);
    const write = (name: string, pem: string): string => {
      const p = join(dir, name);
      writeFileSync(p, pem, { mode: 0o600 });
      return p;
    };
    files.ca = write("ca.pem", options.tls.ca.certPem);
    files.cert = write("server.pem", options.tls.server.certPem);
    files.key = write("server-key.pem", options.tls.server.keyPem);
    serverArgs.push(`--cert-file=${files.cert}`, `--key-file=${files.key}`, `--trusted-ca-file=${files.ca}`);
    if (options.tls.clientCertAuth) serverArgs.push("--client-cert-auth");
  }
  const ports = await Promise.all(Array.from({ length: 2 * n }, () => freePort()));
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
  const initialCluster = names.map((name, i) => `${name}=${peerUrls[i]}`).join(",");
  const members = names.map((name, i) => {
    const clientUrl = `${scheme}://127.0.0.1:${ports[2 * i]}`;
    const dataDir = join(root, name);
    const args = [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrls[i]}`,
      `--initial-advertise-peer-urls=${peerUrls[i]}`,
      `--initial-cluster=${initialCluster}`,
      "--initial-cluster-state=new",
      `--initial-cluster-token=${root}`,
      "--heartbeat-interval=50",
      "--election-timeout=500",
      // Tests ping every few hundred ms to notice a cut connection fast; etcd's default refuses pings under 5 s apart.
      "--grpc-keepalive-min-time=100ms",
      "--log-level=error",
      "--logger=zap",
      ...serverArgs,
      ...(options.extraArgs ?? []),
    ];
    return new EtcdMember(name, clientUrl, peerUrls[i]!, dataDir, args, files);
  });
  const cluster = new EtcdCluster(members, root, files);
  try {
    await Promise.all(members.map((m) => m.start()));
    await Promise.all(members.map((m) => m.waitHealthy()));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
