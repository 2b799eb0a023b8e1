import { contentLines, excerpt, type ParseResult } from "./smi-csv.js";

export interface ListedMigDevice {
  /** e.g. "3g.40gb", "1c.3g.71gb". */
  profile: string;
  index: number;
  uuid: string;
}

export interface ListedGpu {
  index: number;
  name: string;
  uuid: string;
  migDevices: ListedMigDevice[];
}

const GPU_LINE = /^GPU (\d+): (.+?) \(UUID: (GPU-[0-9A-Za-z-]+)\)\s*$/;
const MIG_LINE = /^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[0-9A-Za-z/-]+)\)\s*$/;

/** Parses `nvidia-smi -L`, including MIG instance lines. Never throws. */
export function parseListGpus(text: string): ParseResult<ListedGpu[]> {
  const gpus: ListedGpu[] = [];
  const warnings: string[] = [];
  for (const line of contentLines(text)) {
    const gpu = GPU_LINE.exec(line);
    if (gpu) {
      gpus.push({ index: Number(gpu[1]), name: gpu[2], uuid: gpu[3], migDevices: [] });
      continue;
    }
    const mig = MIG_LINE.exec(line);
    if (mig && gpus.length > 0) {
      gpus[gpus.length - 1].migDevices.push({ profile: mig[1], index: Number(mig[2]), uuid: mig[3] });
      continue;
    }
    warnings.push(`unreadable line: ${excerpt(line, 80)}`);
  }
  if (gpus.length === 0 && warnings.length > 0) {
    return { ok: false, error: `no GPU lines in nvidia-smi -L output: ${excerpt(text)}` };
  }
  return { ok: true, value: gpus, warnings };
}
