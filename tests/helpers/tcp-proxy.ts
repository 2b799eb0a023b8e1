import * as net from "node:net";

/**
 * A TCP proxy on loopback that tests can cut and restore, to partition one client (a queen) from a
 * server (etcd) while others still reach it. cut("reset") drops every connection and resets new
 * ones at once; cut("blackhole") keeps connections open but forwards nothing, as a network that
 * silently loses packets does (the client must notice by its own deadlines).
 */
export class TcpProxy {
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private mode: "open" | "reset" | "blackhole" = "open";
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {
    server.on("connection", (client) => this.accept(client));
  }

  static async start(target: string | { host: string; port: number }): Promise<TcpProxy> {
    const t = typeof target === "string" ? parseTarget(target) : target;
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return new TcpProxy(server, (server.address() as net.AddressInfo).port, t);
  }

  /** The proxy's address with the target URL's scheme, e.g. "http://127.0.0.1:40123". */
  url(scheme = "http"): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    return this.pairs.size;
  }

  cut(how: "reset" | "blackhole" = "reset"): void {
    this.mode = how;
    for (const p of this.pairs) {
      if (how === "reset") {
        p.client.resetAndDestroy();
        p.upstream.destroy();
      } else {
        p.client.pause();
        p.upstream.pause();
        p.client.unpipe();
        p.upstream.unpipe();
      }
    }
    if (how === "reset") this.pairs.clear();
  }

  /** New connections pass again; blackholed ones are dropped (their streams were lost). */
  restore(): void {
    if (this.mode === "blackhole") {
      for (const p of this.pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      this.pairs.clear();
    }
    this.mode = "open";
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted += 1;
    if (this.mode === "reset") return void client.resetAndDestroy();
    const upstream = net.connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    if (this.mode === "blackhole") return; // accepted, never forwarded
    upstream.once("connect", () => {
      if (this.mode !== "open") return;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}

function parseTarget(target: string): { host: string; port: number } {
  const u = new URL(/^[a-z]+:\/\//.test(target) ? target : `tcp://${target}`);
  return { host: u.hostname, port: Number(u.port) };
}
