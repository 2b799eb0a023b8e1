/** Renders rows as left-aligned columns (right-aligned where the header starts with ">"). */
export function renderTable(header: string[], rows: string[][]): string {
  const rightAligned = header.map((h) => h.startsWith(">"));
  const titles = header.map((h) => h.replace(/^>/, ""));
  const widths = titles.map((t, i) => Math.max(t.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(titles), ...rows.map(line)].join("\n") + "\n";
}
