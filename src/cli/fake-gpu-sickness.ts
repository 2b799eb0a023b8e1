import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { HiveConfig } from "../hive/hive-config.js";

/**
 * With the bundled fake nvidia-smi, `apiary up` gives it a health file and the hive a fake kernel
 * log in the state dir, so an operator can make a fake GPU sick and well again (docs/gpu-health.md).
 * Returns the lines that say how.
 */
export function setUpFakeSickness(runtime: HiveConfig, stateDir: string): string {
  mkdirSync(stateDir, { recursive: true });
  const healthFile = (process.env.FAKE_NVIDIA_SMI_HEALTH_FILE ??= path.join(stateDir, "fake-gpu-health"));
  appendFileSync(healthFile, "");
  if (!runtime.kmsgPath || runtime.kmsgPath === "/dev/kmsg") runtime.kmsgPath = path.join(stateDir, "fake-kmsg");
  appendFileSync(runtime.kmsgPath, "");
  return [
    `fake GPU sickness: echo '0 sick' > ${healthFile}   (empty the file to recover; see docs/gpu-health.md)`,
    `fake Xid:          echo 'NVRM: Xid (PCI:0000:18:00): 79, pid=1, GPU has fallen off the bus.' >> ${runtime.kmsgPath}`,
  ].join("\n") + "\n";
}
