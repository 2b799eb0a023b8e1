import { toJson } from "@bufbuild/protobuf";
import { HiveStatusSchema, ListEventsResponseSchema, type HiveStatus, type ListEventsResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerTelemetrySchema, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { JSON_OPTIONS } from "../output/print-list.js";
import { loadYaml } from "../../common/load-yaml.js";

/** `describe hive -o json|yaml`: the queen's HiveStatus with every field, and the hive's recent events. */
export function hiveDocument(hive: HiveStatus, events: ListEventsResponse): Record<string, unknown> {
  return { kind: "hive", hive: toJson(HiveStatusSchema, hive, JSON_OPTIONS), events: eventsOf(events) };
}

/** `describe worker -o json|yaml`: its hive, its WorkerTelemetry with every field, and its recent events. */
export function workerDocument(hiveId: string, worker: WorkerTelemetry, events: ListEventsResponse): Record<string, unknown> {
  return { kind: "worker", hiveId, worker: toJson(WorkerTelemetrySchema, worker, JSON_OPTIONS), events: eventsOf(events) };
}

/** Field names and values as the proto JSON mapping writes them, in JSON or YAML. */
export async function renderDocument(doc: Record<string, unknown>, format: "json" | "yaml"): Promise<string> {
  return format === "json" ? JSON.stringify(doc, null, 2) + "\n" : (await loadYaml()).stringify(doc);
}

function eventsOf(res: ListEventsResponse): unknown[] {
  return (toJson(ListEventsResponseSchema, res, JSON_OPTIONS) as { events?: unknown[] }).events ?? [];
}
