/**
 * Caps on what one server holds, so that no peer can make its memory grow: connections in all and
 * per peer address, HTTP/2 streams per connection, and open long-lived streams (Watch,
 * StreamWorkerLogs, Health.Watch) per peer address and method. The defaults are far above what a
 * fleet uses (a hive holds one connection and one Heartbeat stream; a dashboard one Watch), so
 * only a peer that opens them in a loop meets them. A simulated fleet on one address (bench/) sets
 * its own.
 */
export interface ServerLimits {
  /** Open TCP connections in all; one more is closed at once. */
  maxConnections: number;
  /** Open TCP connections from one peer address; one more is closed at once. */
  maxConnectionsPerPeer: number;
  /** Concurrent HTTP/2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS; more are refused by HTTP/2). */
  maxStreamsPerConnection: number;
  /** Open streams of each long-lived method per peer address; one more gets RESOURCE_EXHAUSTED naming this cap. */
  maxStreamsPerPeer: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 16_384,
  maxConnectionsPerPeer: 1_024,
  maxStreamsPerConnection: 256,
  maxStreamsPerPeer: 256,
};

export function resolveServerLimits(limits: Partial<ServerLimits> | undefined): ServerLimits {
  const given = Object.fromEntries(Object.entries(limits ?? {}).filter(([, v]) => v !== undefined));
  const resolved: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...given };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`server limit ${name}: expected a positive integer, got ${value}`);
  }
  return resolved;
}
