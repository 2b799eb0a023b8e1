/**
 * The one order of ids (hive, worker, GPU) everywhere: by UTF-16 code units, as the queen sorts,
 * independent of the locale (localeCompare would order "W-2" and "w-10" differently per machine).
 */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
