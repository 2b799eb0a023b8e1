/** A protobuf enum value as a metric label: WorkerState.RUNNING → "running" (the name without its type prefix, lower case). */
export function enumLabel(names: Record<number, string>, value: number): string {
  return (names[value] ?? `unknown_${value}`).toLowerCase();
}

/** Every named value of a protobuf enum except UNSPECIFIED (0), in numeric order. */
export function enumValues(names: Record<string | number, string | number>): number[] {
  return Object.values(names).filter((v): v is number => typeof v === "number" && v !== 0).sort((a, b) => a - b);
}
