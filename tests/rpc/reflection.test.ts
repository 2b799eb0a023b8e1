import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { bidiStream, grpcJsClient } from "./support/grpc-js.js";
import { startTestServer } from "./support/start-test-server.js";

type Version = typeof v1 | typeof v1alpha;
type Query = NonNullable<v1.ServerReflectionRequest["messageRequest"]>;
type Answer = v1.ServerReflectionResponse["messageResponse"];

let server: RpcServer;
let client: ReturnType<typeof grpcJsClient>;

beforeAll(async () => {
  server = await startTestServer();
  client = grpcJsClient(server.url);
});
afterAll(async () => {
  client.close();
  await server.close();
});

/** Sends queries on one reflection stream, answering each before the next is sent. */
async function ask(version: Version, pkg: string, queries: Query[]): Promise<Answer[]> {
  const stream = bidiStream(
    client,
    `/${pkg}.ServerReflection/ServerReflectionInfo`,
    version.ServerReflectionRequestSchema,
    version.ServerReflectionResponseSchema,
  );
  const answers: Answer[] = [];
  const iterator = stream[Symbol.asyncIterator]();
  for (const query of queries) {
    stream.write(create(version.ServerReflectionRequestSchema, { messageRequest: query } as never));
    const next = await iterator.next();
    answers.push((next.value as v1.ServerReflectionResponse).messageResponse);
  }
  stream.end();
  return answers;
}

function fileNames(answer: Answer): string[] {
  if (answer.case !== "fileDescriptorResponse") throw new Error(`expected files, got ${answer.case}`);
  return answer.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

describe.each([
  ["v1", v1, "grpc.reflection.v1"],
  ["v1alpha", v1alpha, "grpc.reflection.v1alpha"],
] as const)("server reflection %s", (_name, version, pkg) => {
  it("lists every served service", async () => {
    const [answer] = await ask(version, pkg, [{ case: "listServices", value: "" }]);
    expect(answer.case).toBe("listServicesResponse");
    const names = answer.case === "listServicesResponse" ? answer.value.service.map((s) => s.name) : [];
    expect(names.sort()).toEqual([
      "apiary.v1.HiveService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("finds files by symbol (service, method, message, nested enum) with their dependencies", async () => {
    const answers = await ask(version, pkg, [
      { case: "fileContainingSymbol", value: "apiary.v1.HiveService" },
      { case: "fileContainingSymbol", value: "apiary.v1.HiveService.WatchTelemetry" },
      { case: "fileContainingSymbol", value: "apiary.v1.SpawnWorkerRequest" },
      { case: "fileContainingSymbol", value: "grpc.health.v1.HealthCheckResponse.ServingStatus" },
    ]);
    for (const answer of answers.slice(0, 3)) {
      const names = fileNames(answer);
      expect(names[0]).toBe("apiary/v1/hive.proto");
      expect(names).toContain("apiary/v1/telemetry.proto");
      expect(names).toContain("google/protobuf/duration.proto");
      expect(names).toContain("google/protobuf/timestamp.proto");
    }
    expect(fileNames(answers[3])).toEqual(["grpc/health/v1/health.proto"]);
  });

  it("returned descriptors decode to the declared service", async () => {
    const [answer] = await ask(version, pkg, [{ case: "fileByFilename", value: "apiary/v1/hive.proto" }]);
    if (answer.case !== "fileDescriptorResponse") throw new Error(answer.case);
    const file = fromBinary(FileDescriptorProtoSchema, answer.value.fileDescriptorProto[0]);
    expect(file.package).toBe("apiary.v1");
    expect(file.service[0].method.map((m) => m.name)).toContain("ListWorkers");
    expect(file.dependency).toContain("google/protobuf/duration.proto");
  });

  it("answers NOT_FOUND errors and keeps the stream open", async () => {
    const answers = await ask(version, pkg, [
      { case: "fileContainingSymbol", value: "apiary.v1.NoSuchThing" },
      { case: "fileByFilename", value: "nope.proto" },
      { case: "fileContainingExtension", value: create(v1.ExtensionRequestSchema, { containingType: "apiary.v1.SpawnWorkerRequest", extensionNumber: 100 }) },
      { case: "allExtensionNumbersOfType", value: "apiary.v1.NoSuchThing" },
      { case: "allExtensionNumbersOfType", value: "apiary.v1.SpawnWorkerRequest" },
      { case: "listServices", value: "" },
    ]);
    for (const answer of answers.slice(0, 4)) {
      expect(answer.case).toBe("errorResponse");
      if (answer.case === "errorResponse") expect(answer.value.errorCode).toBe(5);
    }
    expect(answers[4]).toMatchObject({ case: "allExtensionNumbersResponse", value: { baseTypeName: "apiary.v1.SpawnWorkerRequest", extensionNumber: [] } });
    expect(answers[5].case).toBe("listServicesResponse");
  });
});
