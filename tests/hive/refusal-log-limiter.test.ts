import { describe, expect, it } from "vitest";
import { RefusalLogLimiter } from "../../src/hive/refusal-log-limiter.js";
import { WriteAudit } from "../../src/hive/write-audit.js";
import { captureLogs } from "./hive-test-helpers.js";

const limits = { perPeerBurst: 10, perPeerPerSecond: 1, totalBurst: 100, totalPerSecond: 20, maxPeers: 4, summaryPeers: 20 };

function auditWithClock() {
  const clock = { t: 0, now: () => clock.t };
  const logs = captureLogs("info");
  const audit = new WriteAudit(logs.logger, new RefusalLogLimiter(limits, clock.now));
  const refuse = (peer: string) => audit.recordRefusal({ method: "SpawnWorker", caller: "anonymous", peer, outcome: "Unauthenticated", message: "no local credential" });
  return { clock, logs, audit, refuse };
}

describe("refused writes in the audit log, rate limited", () => {
  it("10,000 refusals from one peer in one second: the burst is logged, the rest is counted on the next line and in the summary", () => {
    const { clock, logs, audit, refuse } = auditWithClock();
    for (let i = 0; i < 10_000; i++) refuse("127.0.0.1");
    expect(logs.lines.length).toBe(10);
    clock.t = 1_000; // one token back
    refuse("127.0.0.1");
    expect(logs.lines.length).toBe(11);
    expect(logs.lines[10]!.suppressed).toBe(9_990);
    for (let i = 0; i < 500; i++) refuse("127.0.0.1");
    audit.flushSuppressed();
    const summary = logs.lines.at(-1)!;
    expect(summary).toMatchObject({ audit: "refusals-suppressed", peer: "127.0.0.1", suppressed: 500 });
    audit.flushSuppressed();
    expect(logs.lines.length).toBe(12); // reported once
  });

  it("one peer's flood does not silence another's first refusals, and the total is capped across peers", () => {
    const { logs, refuse } = auditWithClock();
    for (let i = 0; i < 1_000; i++) refuse("127.0.0.2");
    refuse("127.0.0.3");
    expect(logs.lines.filter((l) => l.peer === "127.0.0.3")).toHaveLength(1);
    // Many addresses (127.0.0.0/8 is all loopback): the all-peers bucket holds at its burst.
    for (let i = 0; i < 5_000; i++) refuse(`127.1.${i >> 8}.${i & 255}`);
    expect(logs.lines.length).toBeLessThanOrEqual(limits.totalBurst);
  });

  it("remembers at most maxPeers peers; what forgotten peers had left out is still reported", () => {
    const { clock, logs, audit, refuse } = auditWithClock();
    const limiter = new RefusalLogLimiter(limits, clock.now);
    for (let i = 0; i < 100; i++) limiter.admit(`10.0.0.${i}`);
    expect(limiter.size).toBe(limits.maxPeers);
    for (let i = 0; i < 20; i++) refuse("127.0.0.9"); // 10 left out
    for (let i = 0; i < 4; i++) refuse(`127.0.1.${i}`); // pushes 127.0.0.9 out
    audit.flushSuppressed();
    expect(logs.lines.at(-1)).toMatchObject({ audit: "refusals-suppressed", peer: "other peers", suppressed: 10 });
  });

  // Attack on the log through the summary: every remembered address floods, so each would get its own
  // summary line every 10 s (1,025 lines, past the all-peers bucket) — the summary is capped too.
  it("a summary names the loudest peers and folds the rest into one line, the counts preserved", () => {
    const wide = { ...limits, perPeerBurst: 1, totalBurst: 1, maxPeers: 1_024, summaryPeers: 20 };
    const limiter = new RefusalLogLimiter(wide, () => 0);
    let refused = 0;
    for (let i = 0; i < 1_024; i++) {
      const peer = `127.2.${i >> 8}.${i & 255}`;
      for (let k = 0; k <= i % 7; k++) if (limiter.admit(peer) === undefined) refused++;
    }
    const summary = limiter.drainSuppressed();
    expect(summary).toHaveLength(21);
    expect(summary.at(-1)!.peer).toBe("other peers");
    expect(summary.slice(0, 20).every((p) => p.suppressed >= summary[19]!.suppressed)).toBe(true);
    expect(summary.reduce((n, p) => n + p.suppressed, 0)).toBe(refused);
    expect(limiter.drainSuppressed()).toEqual([]);
  });
});
