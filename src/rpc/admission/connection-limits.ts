import type * as net from "node:net";

export interface ConnectionLimitsOptions {
  /** Open connections in all; one more is closed at once. */
  maxConnections: number;
  /** Open connections from one peer address; one more is closed at once. */
  maxConnectionsPerPeer: number;
  /** Told once per refused connection (the caller logs it once per peer and reason). */
  onRefused: (address: string, reason: string) => void;
}

/**
 * Caps the TCP connections a server holds, in all and per peer address, from the moment they are
 * accepted (before TLS or HTTP/2 setup spend memory on them): a peer opening connections in a
 * loop cannot make the server's memory grow or take every slot from the fleet.
 */
export class ConnectionLimits {
  private total = 0;
  private readonly perPeer = new Map<string, number>();

  constructor(private readonly opts: ConnectionLimitsOptions) {}

  /** Counts the socket until it closes; false (and the socket destroyed) when over a cap. */
  admit(socket: net.Socket): boolean {
    const address = socket.remoteAddress ?? "unknown";
    const fromPeer = this.perPeer.get(address) ?? 0;
    const reason =
      this.total >= this.opts.maxConnections
        ? `connection refused: the server holds ${this.total} connections, its cap (maxConnections)`
        : fromPeer >= this.opts.maxConnectionsPerPeer
          ? `connection refused: ${fromPeer} connections open from this address, the cap per peer address (maxConnectionsPerPeer)`
          : undefined;
    if (reason !== undefined) {
      this.opts.onRefused(address, reason);
      socket.destroy();
      return false;
    }
    this.total++;
    this.perPeer.set(address, fromPeer + 1);
    socket.once("close", () => {
      this.total--;
      const left = (this.perPeer.get(address) ?? 1) - 1;
      if (left <= 0) this.perPeer.delete(address);
      else this.perPeer.set(address, left);
    });
    return true;
  }

  get connections(): number {
    return this.total;
  }
}
