import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  HiveService,
  ListWorkersResponseSchema,
  WatchTelemetryResponseSchema,
  type WatchTelemetryResponse,
} from "../../../gen/apiary/v1/hive_pb.js";

export const DUMMY_HIVE_ID = "hive-test-1";

export const dummyListWorkers = create(ListWorkersResponseSchema, {
  hive: { hiveId: DUMMY_HIVE_ID, hostname: "gpu-box", cpuCores: 8 },
  workers: [{ workerId: "w1", pid: 4242, model: "llama-3-8b", memoryRssBytes: 8n * 1024n ** 3n }],
});

/** A HiveService with a fixed ListWorkers and a WatchTelemetry that streams until the call or server ends. */
export function createDummyHive(): Partial<ServiceImpl<typeof HiveService>> {
  return {
    listWorkers: () => dummyListWorkers,
    async *watchTelemetry(_request, ctx): AsyncGenerator<WatchTelemetryResponse> {
      let seq = 0n;
      while (!ctx.signal.aborted) {
        yield create(WatchTelemetryResponseSchema, { report: { seq: ++seq } });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 50);
          ctx.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
      const reason: unknown = ctx.signal.reason;
      throw reason instanceof ConnectError ? reason : new ConnectError("call ended", Code.Unavailable);
    },
  };
}
