import { GpuProbeState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { excerpt } from "./smi-csv.js";

export interface SmiErrorClass {
  state: GpuProbeState.NOT_FOUND | GpuProbeState.ERROR;
  /** The driver's own words, trimmed, plus what they mean when that is known. */
  message: string;
  /** True when the text matched a known nvidia-smi failure. */
  recognized: boolean;
}

interface KnownFailure {
  pattern: RegExp;
  state: GpuProbeState.NOT_FOUND | GpuProbeState.ERROR;
}

// Texts nvidia-smi prints when it cannot report; checked in order.
const KNOWN_FAILURES: KnownFailure[] = [
  { pattern: /No devices were found/i, state: GpuProbeState.NOT_FOUND },
  { pattern: /couldn't communicate with the NVIDIA driver/i, state: GpuProbeState.ERROR },
  { pattern: /Failed to initialize NVML/i, state: GpuProbeState.ERROR },
  { pattern: /NVML Shared Library Not Found/i, state: GpuProbeState.ERROR },
  { pattern: /Unable to determine the device handle/i, state: GpuProbeState.ERROR },
  { pattern: /GPU is lost/i, state: GpuProbeState.ERROR },
  { pattern: /Insufficient Permissions/i, state: GpuProbeState.ERROR },
  // A whole line only: "[Unknown Error]" is also a value inside healthy query output.
  { pattern: /^\s*Unknown Error\s*$/im, state: GpuProbeState.ERROR },
  { pattern: /is not a valid field to query/i, state: GpuProbeState.ERROR },
];

/** Known failure line(s) of nvidia-smi output, or undefined. */
export function recognizeSmiError(text: string): SmiErrorClass | undefined {
  for (const { pattern, state } of KNOWN_FAILURES) {
    const at = text.search(pattern);
    if (at < 0) continue;
    // From the start of the matching line to the end: keeps follow-ups like "NVML library version: …".
    const lineStart = text.lastIndexOf("\n", at) + 1;
    return { state, message: excerpt(text.slice(lineStart), 400), recognized: true };
  }
  return undefined;
}

/**
 * Classifies the output of an nvidia-smi call that failed (non-zero exit or
 * unreadable output). Never throws.
 */
export function classifySmiError(stdout: string, stderr = "", exitCode?: number): SmiErrorClass {
  const text = [stdout, stderr].filter((t) => t.trim() !== "").join("\n");
  const known = recognizeSmiError(text);
  if (known) return known;
  const code = exitCode === undefined ? "" : ` (exit code ${exitCode})`;
  return { state: GpuProbeState.ERROR, message: `nvidia-smi failed${code}: ${excerpt(text, 400)}`, recognized: false };
}
