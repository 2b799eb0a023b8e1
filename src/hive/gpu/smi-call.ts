import { GpuProbeState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { classifySmiError, recognizeSmiError } from "./classify-error.js";
import type { RunResult } from "./run-with-deadline.js";
import type { ParseResult } from "./smi-csv.js";

export type FailedState = GpuProbeState.NOT_FOUND | GpuProbeState.TIMEOUT | GpuProbeState.ERROR;

export type SmiCallOutcome<T> =
  | { ok: true; value: T; warnings: string[] }
  | { ok: false; state: FailedState; message: string };

/** Turns one nvidia-smi run into parsed data or a probe state with a message for a human. */
export function interpretSmiCall<T>(
  label: string,
  run: RunResult,
  parse: (text: string) => ParseResult<T>,
  ctx: { path: string; deadlineMs: number },
): SmiCallOutcome<T> {
  switch (run.kind) {
    case "not-found":
      return { ok: false, state: GpuProbeState.NOT_FOUND, message: `${ctx.path} not found` };
    case "spawn-error":
      return { ok: false, state: GpuProbeState.ERROR, message: `${label}: cannot run ${ctx.path}: ${run.errorMessage ?? "spawn failed"}` };
    case "timeout":
      return {
        ok: false,
        state: GpuProbeState.TIMEOUT,
        message: `${label} did not finish within ${ctx.deadlineMs} ms and was killed`,
      };
    case "exit-error": {
      const c = classifySmiError(run.stdout, run.stderr, run.exitCode ?? undefined);
      const how = run.signal ? ` (signal ${run.signal})` : "";
      return { ok: false, state: c.state, message: c.recognized ? c.message : `${label}${how}: ${c.message}` };
    }
    case "ok": {
      const parsed = parse(run.stdout);
      if (parsed.ok) return parsed;
      const known = recognizeSmiError(`${run.stdout}\n${run.stderr}`);
      if (known) return { ok: false, state: known.state, message: known.message };
      return { ok: false, state: GpuProbeState.ERROR, message: `${label}: ${parsed.error}` };
    }
  }
}
