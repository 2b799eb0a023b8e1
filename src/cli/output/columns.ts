/**
 * One column of a listing. A command's columns are an array of these, so adding a column is
 * one line in its *-columns.ts file.
 */
export interface Column<R> {
  header: string;
  /** Right-aligned (numbers). */
  right?: boolean;
  /** Only with `-o wide`. */
  wide?: boolean;
  /** Shown by listings, not by `apiary top`. */
  listOnly?: boolean;
  value: (row: R) => string;
}

/** The columns a format shows: wide ones only in wide. */
export function visibleColumns<R>(columns: readonly Column<R>[], wide: boolean): Column<R>[] {
  return columns.filter((c) => wide || !c.wide);
}

/** Header and cells for renderTable (">" marks right-aligned headers). */
export function tableOf<R>(columns: readonly Column<R>[], rows: readonly R[]): { header: string[]; cells: string[][] } {
  return {
    header: columns.map((c) => (c.right ? `>${c.header}` : c.header)),
    cells: rows.map((row) => columns.map((c) => c.value(row))),
  };
}
