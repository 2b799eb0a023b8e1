import type { ClusterChange, ClusterSnapshot, HiveMembership, QueenMember, Revisioned } from "./cluster-store.js";

/**
 * What this queen last saw of the cluster store: every queen, owner key and hive record with its
 * modRevision (the compares of claims and orphan writes need them). Fed by list, watch and the
 * outcomes of this queen's own writes; an older value never replaces a newer one.
 */
export class StoreState {
  readonly queens = new Map<string, Revisioned<QueenMember>>();
  readonly owners = new Map<string, Revisioned<string>>();
  readonly hives = new Map<string, Revisioned<HiveMembership>>();
  /** Revision of the last transaction applied from list or watch. */
  revision = 0;
  /** Revision at which each deleted key was seen gone, so a late echo of an older write does not bring it back. */
  private readonly deletedAt = new Map<string, number>();

  /** Replaces everything with a snapshot; returns the hive ids and queen ids present before or after. */
  reset(snapshot: ClusterSnapshot): { hiveIds: Set<string>; queenIds: Set<string> } {
    const hiveIds = new Set([...this.hives.keys(), ...this.owners.keys(), ...snapshot.hives.keys(), ...snapshot.owners.keys()]);
    const queenIds = new Set([...this.queens.keys(), ...snapshot.queens.keys()]);
    replace(this.queens, snapshot.queens);
    replace(this.owners, snapshot.owners);
    replace(this.hives, snapshot.hives);
    this.deletedAt.clear();
    this.revision = snapshot.revision;
    return { hiveIds, queenIds };
  }

  /** Applies one transaction's changes; returns the hive ids and queen ids they touched. */
  apply(revision: number, changes: readonly ClusterChange[]): { hiveIds: Set<string>; queenIds: Set<string> } {
    const hiveIds = new Set<string>();
    const queenIds = new Set<string>();
    for (const change of changes) {
      switch (change.kind) {
        case "queen":
          queenIds.add(change.queenId);
          this.set(this.queens, `q/${change.queenId}`, change.queenId, change.value, change.modRevision || revision);
          break;
        case "owner":
          hiveIds.add(change.hiveId);
          this.set(this.owners, `o/${change.hiveId}`, change.hiveId, change.value, change.modRevision || revision);
          break;
        case "hive":
          hiveIds.add(change.hiveId);
          this.set(this.hives, `h/${change.hiveId}`, change.hiveId, change.value, change.modRevision || revision);
          break;
      }
    }
    this.revision = Math.max(this.revision, revision);
    // The watch has delivered everything up to here: no older echo can come any more.
    for (const [key, at] of this.deletedAt) if (at <= this.revision) this.deletedAt.delete(key);
    return { hiveIds, queenIds };
  }

  /** Records the outcome of this queen's own write of a hive (before its watch echo arrives). */
  noteHive(hiveId: string, value: HiveMembership | undefined, revision: number): void {
    this.set(this.hives, `h/${hiveId}`, hiveId, value, revision);
  }

  noteOwner(hiveId: string, value: string | undefined, revision: number): void {
    this.set(this.owners, `o/${hiveId}`, hiveId, value, revision);
  }

  /** What a refused compare said the keys hold now. */
  noteCurrent(hiveId: string, owner: Revisioned<string> | undefined, hive: Revisioned<HiveMembership> | undefined): void {
    if (owner) this.owners.set(hiveId, owner);
    else this.owners.delete(hiveId);
    if (hive) this.hives.set(hiveId, hive);
    else this.hives.delete(hiveId);
  }

  private set<T>(map: Map<string, Revisioned<T>>, key: string, id: string, value: T | undefined, revision: number): void {
    const seen = Math.max(map.get(id)?.modRevision ?? 0, this.deletedAt.get(key) ?? 0);
    if (revision < seen) return;
    if (value === undefined) {
      map.delete(id);
      this.deletedAt.set(key, revision);
    } else {
      map.set(id, { value, modRevision: revision });
      this.deletedAt.delete(key);
    }
  }
}

function replace<T>(target: Map<string, T>, source: ReadonlyMap<string, T>): void {
  target.clear();
  for (const [k, v] of source) target.set(k, v);
}
