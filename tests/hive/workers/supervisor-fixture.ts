import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { SpawnWorkerRequestSchema, type SpawnWorkerRequest } from "../../../gen/apiary/v1/hive_pb.js";
import type { WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { V1_CONTROLLERS } from "../../../src/hive/cgroup/cgroup-v1-driver.js";
import { WorkerSupervisor, type SupervisorOptions, type WorkerSample } from "../../../src/hive/workers/worker-supervisor.js";
import { waitFor } from "../../helpers/wait.js";

export const DEMO_WORKER = fileURLToPath(new URL("../../../examples/demo-worker/demo-worker.mjs", import.meta.url));
export const CGROUP_ROOT = "/sys/fs/cgroup";

export function demoArgv(...args: string[]): string[] {
  return [process.execPath, DEMO_WORKER, ...args];
}

export function spawnRequest(fields: MessageInitShape<typeof SpawnWorkerRequestSchema>): SpawnWorkerRequest {
  return create(SpawnWorkerRequestSchema, fields);
}



export async function waitReady(telemetry: WorkerTelemetry, count = 1): Promise<void> {
  await waitFor(() => {
    const log = existsSync(telemetry.logPath) ? readFileSync(telemetry.logPath, "utf8") : "";
    return (log.match(/demo-worker ready/g) ?? []).length >= count;
  }, `${telemetry.workerId} to print ready`);
}

export function find(samples: WorkerSample[], workerId: string): WorkerSample | undefined {
  return samples.find((s) => s.telemetry.workerId === workerId);
}

/** A supervisor with its own state dir and its own cgroup parent; dispose() removes all of it. */
export class SupervisorFixture {
  readonly stateDir = mkdtempSync(join(tmpdir(), "apiary-sup-"));
  readonly cgroupParent = `apiary-test-${randomBytes(4).toString("hex")}`;
  readonly supervisors: WorkerSupervisor[] = [];

  async start(opts: Partial<SupervisorOptions> = {}): Promise<WorkerSupervisor> {
    const sup = new WorkerSupervisor({ stateDir: this.stateDir, cgroupParent: this.cgroupParent, logger: pino({ level: "silent" }), ...opts });
    await sup.init();
    this.supervisors.push(sup);
    return sup;
  }

  cgroupDir(controller: string, workerId: string): string {
    return `${CGROUP_ROOT}/${controller}/${this.cgroupParent}/${workerId}`;
  }

  async dispose(): Promise<void> {
    for (const sup of this.supervisors.reverse()) await sup.close({ stopWorkers: true, graceMs: 0 });
    for (const controller of V1_CONTROLLERS) {
      try {
        rmdirSync(`${CGROUP_ROOT}/${controller}/${this.cgroupParent}`);
      } catch {
        // never created
      }
    }
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
