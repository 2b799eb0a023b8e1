export interface LoopDelay {
  p99: number;
  max: number;
}

async function scrape(url: string, p99Name: string, maxName: string, timeoutMs: number): Promise<LoopDelay> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text();
  const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? NaN);
  return { p99: value(p99Name), max: value(maxName) };
}

/** The queen's own event-loop delay since its previous scrape, from its /metrics (seconds). */
export function queenLoopDelay(url: string, timeoutMs = 5_000): Promise<LoopDelay> {
  return scrape(url, "apiary_queen_event_loop_delay_p99_seconds", "apiary_queen_event_loop_delay_max_seconds", timeoutMs);
}

/** The hive's event-loop delay since its previous scrape: prom-client's runtime gauges on its /metrics, reset at each scrape (seconds). */
export function hiveLoopDelay(url: string, timeoutMs = 5_000): Promise<LoopDelay> {
  return scrape(url, "nodejs_eventloop_lag_p99_seconds", "nodejs_eventloop_lag_max_seconds", timeoutMs);
}
