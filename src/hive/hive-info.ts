import { randomUUID } from "node:crypto";
import os from "node:os";
import { create } from "@bufbuild/protobuf";
import { HiveInfoSchema, type HiveInfo } from "../../gen/apiary/v1/telemetry_pb.js";
import { APIARY_VERSION } from "../common/version.js";

export interface HiveIdentity {
  /** Unique in the cluster; defaults to the hostname. */
  hiveId?: string;
  /** Where the HiveService listens, e.g. "http://10.0.0.5:7835". */
  endpoint: string;
  labels?: Record<string, string>;
  /** "v2", "v1" or "none", as the worker supervisor found it. */
  cgroupMode: string;
}

/** What the hive says about itself in its Hello and ListWorkers. */
export function buildHiveInfo(identity: HiveIdentity): HiveInfo {
  const hostname = os.hostname();
  return create(HiveInfoSchema, {
    hiveId: identity.hiveId && identity.hiveId.length > 0 ? identity.hiveId : hostname,
    hostname,
    endpoint: identity.endpoint,
    version: APIARY_VERSION,
    labels: { ...(identity.labels ?? {}) },
    cpuCores: os.cpus().length,
    memoryTotalBytes: BigInt(os.totalmem()),
    cgroupMode: identity.cgroupMode,
  });
}

/** A fresh value per hive process start: the queen replaces what it knew of an older one. */
export function newIncarnation(): string {
  return randomUUID();
}
