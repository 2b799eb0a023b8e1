/** Cumulative counters of one worker at one instant; a counter is absent when it could not be read. */
export interface CounterSample {
  /** Monotonic time of the reading (process.hrtime.bigint()). */
  atNs: bigint;
  cpuNs?: bigint;
  ioReadBytes?: bigint;
  ioWriteBytes?: bigint;
}

export interface Rates {
  /** Percent of one core: 200 = two cores busy. */
  cpuPct?: number;
  ioReadBytesPerSec?: number;
  ioWriteBytesPerSec?: number;
}

/**
 * Turns cumulative counters into rates between two consecutive samples of one
 * worker. The first sample yields no rates (unknown, not 0). A counter that
 * went backwards (a process left the worker's tree, a pid was reused, the
 * counter's source changed) yields no rate for that interval, never a
 * negative one.
 */
export class RateTracker {
  private previous: CounterSample | undefined;

  update(sample: CounterSample): Rates {
    const previous = this.previous;
    this.previous = sample;
    if (!previous) return {};
    const elapsedNs = sample.atNs - previous.atNs;
    if (elapsedNs <= 0n) return {};
    const perSecond = (now?: bigint, before?: bigint): number | undefined => {
      if (now === undefined || before === undefined || now < before) return undefined;
      return (Number(now - before) * 1e9) / Number(elapsedNs);
    };
    const rates: Rates = {};
    const cpuNsPerSec = perSecond(sample.cpuNs, previous.cpuNs);
    if (cpuNsPerSec !== undefined) rates.cpuPct = cpuNsPerSec / 1e7;
    const read = perSecond(sample.ioReadBytes, previous.ioReadBytes);
    if (read !== undefined) rates.ioReadBytesPerSec = read;
    const write = perSecond(sample.ioWriteBytes, previous.ioWriteBytes);
    if (write !== undefined) rates.ioWriteBytesPerSec = write;
    return rates;
  }
}
