import { existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RestartPolicy, WorkerState, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { cancelBackoff, enterBackoff, enterEnded, enterStopping, InvalidPhaseTransition, type Phased } from "../../../src/hive/workers/worker-phase.js";
import type { WorkerSupervisor } from "../../../src/hive/workers/worker-supervisor.js";
import { waitFor } from "../../helpers/wait.js";
import { spawnRequest, SupervisorFixture } from "./supervisor-fixture.js";

const FINAL = {} as WorkerTelemetry;
const record = (): Phased => ({ phase: { kind: "running" }, state: { workerId: "w" } });
const stopping = (r: Phased) => enterStopping(r, async () => undefined, async () => FINAL);
const backoff = (r: Phased) => enterBackoff(r, Date.now() + 60_000, async () => undefined);
const ended = (r: Phased) => enterEnded(r, FINAL, async () => undefined);

describe("worker phases", () => {
  it("moves running → stopping → ended, and running → backoff → ended", () => {
    const a = record();
    expect(stopping(a).kind).toBe("stopping");
    expect(ended(a)).toMatchObject({ kind: "ended", final: FINAL });
    const b = record();
    const waiting = backoff(b);
    expect(waiting).toMatchObject({ kind: "backoff", cancelled: false });
    expect(waiting.abort.signal.aborted).toBe(false);
    expect(cancelBackoff(b)).toBe(waiting);
    expect(waiting.cancelled).toBe(true);
    expect(waiting.abort.signal.aborted).toBe(true); // StopWorker ends the wait at once
    expect(ended(b).kind).toBe("ended");
  });

  it("refuses every other move and leaves the phase as it was", () => {
    const refused: [string, (r: Phased) => Phased, (r: Phased) => unknown][] = [
      ["stopping → backoff (a stopped run is never restarted)", (r) => (stopping(r), r), backoff],
      ["stopping → stopping", (r) => (stopping(r), r), stopping],
      ["backoff → stopping (no tree to end)", (r) => (backoff(r), r), stopping],
      ["backoff → backoff", (r) => (backoff(r), r), backoff],
      ["running → cancelled back-off", (r) => r, cancelBackoff],
      ["ended → stopping", (r) => (ended(r), r), stopping],
      ["ended → backoff (an ended worker is never restarted)", (r) => (ended(r), r), backoff],
      ["ended → ended", (r) => (ended(r), r), ended],
      ["ended → cancelled back-off", (r) => (ended(r), r), cancelBackoff],
    ];
    for (const [what, setUp, move] of refused) {
      const r = setUp(record());
      const before = r.phase;
      expect(() => move(r), what).toThrow(InvalidPhaseTransition);
      expect(r.phase, what).toBe(before);
    }
  });
});

function runs(logPath: string): number {
  return (readFileSync(logPath, "utf8").match(/^run$/gm) ?? []).length;
}

describe("worker phases in the supervisor (real processes, real cgroups)", () => {
  let fx: SupervisorFixture;
  beforeEach(() => {
    fx = new SupervisorFixture();
  });
  afterEach(async () => fx.dispose());

  it("StopWorker during the back-off cancels the restart: no run starts after it", async () => {
    // A back-off of a minute: the stop surely lands in the wait, and returns without waiting it out.
    const sup: WorkerSupervisor = await fx.start({ restart: { baseMs: 60_000, capMs: 120_000, stableMs: 600_000 } });
    const spawned = await sup.spawn(spawnRequest({ workerId: "crash", argv: ["sh", "-c", "echo run; exit 3"], restartPolicy: RestartPolicy.ON_FAILURE }));
    await waitFor(async () => (await sup.sample()).find((s) => s.telemetry.workerId === "crash")?.telemetry.state === WorkerState.BACKOFF, "crash in back-off");

    const stopped = await sup.stop("crash", 1000);
    expect(stopped).toMatchObject({ state: WorkerState.FAILED, exitCode: 3, restartCount: 0, reason: "Error" });
    // stop() waited for the restart loop to return: any new start would have happened by now.
    expect(runs(spawned.logPath)).toBe(1);
    expect(sup.isActive("crash")).toBe(false);
    expect(existsSync(`${fx.stateDir}/workers/crash.json`)).toBe(false);
    expect(await sup.stop("crash")).toBe(stopped); // a second StopWorker gets the same end
  }, 60_000);

  it("a worker whose policy restarts any end is not restarted after StopWorker; concurrent stops share one end", async () => {
    const sup = await fx.start({ restart: { baseMs: 10, capMs: 20, stableMs: 600_000 } });
    const spawned = await sup.spawn(spawnRequest({ workerId: "always", argv: ["sh", "-c", "echo run; exec sleep 600"], restartPolicy: RestartPolicy.ALWAYS }));
    await waitFor(() => existsSync(spawned.logPath) && runs(spawned.logPath) === 1, "the first run");

    const [first, second] = await Promise.all([sup.stop("always", 1000), sup.stop("always", 1000)]);
    expect(second).toBe(first);
    expect(first).toMatchObject({ state: WorkerState.EXITED, reason: "Stopped", restartCount: 0 });
    expect(sup.isActive("always")).toBe(false);
    const samples = await sup.sample(); // the end is reported once; nothing waits to start again
    expect(samples.filter((s) => s.telemetry.workerId === "always").map((s) => s.telemetry.state)).toEqual([WorkerState.EXITED]);
    expect(runs(spawned.logPath)).toBe(1);
  }, 60_000);
});
