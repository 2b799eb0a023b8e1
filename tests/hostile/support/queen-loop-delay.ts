/** The queen's own event-loop delay since its previous scrape, from its /metrics (seconds). */
export async function queenLoopDelay(url: string, timeoutMs = 5_000): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text();
  const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? NaN);
  return { p99: value("apiary_queen_event_loop_delay_p99_seconds"), max: value("apiary_queen_event_loop_delay_max_seconds") };
}
