import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HiveStatusSchema } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerTelemetrySchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { OPENAI_URL_LABEL, openAiBaseUrl } from "../../src/route/openai-endpoint.js";

const hive = create(HiveStatusSchema, { info: { hiveId: "h1", hostname: "gpu-7", endpoint: "http://10.0.0.7:7835" } });
const worker = (labels: Record<string, string>, endpoint?: string) =>
  create(WorkerTelemetrySchema, { workerId: "w", labels, ...(endpoint ? { engineLoad: { endpoint } } : {}) });

// Attack: a worker (or whoever spawned it) labels itself apiary.io/openai-url=http://evil.example and
// the router forwards users' prompts there. A worker may point the router only at its own hive's machine.
describe("apiary.io/openai-url names only the worker's own hive's host", () => {
  it("ignores a label or a metrics URL naming another host", () => {
    expect(openAiBaseUrl(worker({ [OPENAI_URL_LABEL]: "http://evil.example:8000/v1" }), hive)).toBeUndefined();
    expect(openAiBaseUrl(worker({ [OPENAI_URL_LABEL]: "https://10.0.0.8:8000" }), hive)).toBeUndefined();
    expect(openAiBaseUrl(worker({}, "http://evil.example:9000/metrics"), hive)).toBeUndefined();
    expect(openAiBaseUrl(worker({ [OPENAI_URL_LABEL]: "http://evil.example:8000" }), undefined)).toBeUndefined();
  });

  it("takes the hive's own address, its hostname, and loopback (made the hive's address)", () => {
    expect(openAiBaseUrl(worker({ [OPENAI_URL_LABEL]: "http://10.0.0.7:8000/v1" }), hive)).toBe("http://10.0.0.7:8000");
    expect(openAiBaseUrl(worker({ [OPENAI_URL_LABEL]: "https://GPU-7:8443" }), hive)).toBe("https://gpu-7:8443");
    expect(openAiBaseUrl(worker({ [OPENAI_URL_LABEL]: "http://127.0.0.1:8000" }), hive)).toBe("http://10.0.0.7:8000");
    expect(openAiBaseUrl(worker({}, "http://127.0.0.1:9000/metrics"), hive)).toBe("http://10.0.0.7:9000");
  });
});
