/** The open Heartbeat stream of each hive: a newer stream for the same hive_id supersedes the older. */
export class HiveSessions {
  private readonly current = new Map<string, { incarnation: string; controller: AbortController }>();

  /** Makes this stream the hive's current one; the previous stream (if any) is aborted. */
  claim(hiveId: string, incarnation: string, controller: AbortController): { supersededIncarnation?: string } {
    const previous = this.current.get(hiveId);
    this.current.set(hiveId, { incarnation, controller });
    if (!previous) return {};
    previous.controller.abort(new Error(`superseded by a newer stream (incarnation ${incarnation})`));
    return { supersededIncarnation: previous.incarnation };
  }

  /** Ends the hive's current stream (if any) with `reason` (a ConnectError is what the hive gets). */
  abort(hiveId: string, reason: Error): boolean {
    const entry = this.current.get(hiveId);
    if (!entry) return false;
    entry.controller.abort(reason);
    return true;
  }

  /** Ends every open stream with `reason`. */
  abortAll(reason: Error): void {
    for (const entry of this.current.values()) entry.controller.abort(reason);
  }

  /** Forgets the stream; true when it was still the hive's current one. */
  release(hiveId: string, controller: AbortController): boolean {
    const entry = this.current.get(hiveId);
    if (entry?.controller !== controller) return false;
    this.current.delete(hiveId);
    return true;
  }
}
