import { create } from "@bufbuild/protobuf";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { ReflectionIndex } from "./reflection-index.js";

/** The request's oneof, identical in shape in v1 and v1alpha. */
type ReflectionQuery = v1.ServerReflectionRequest["messageRequest"] | v1alpha.ServerReflectionRequest["messageRequest"];

/** The response's oneof as plain init values, valid for both v1 and v1alpha. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

function notFound(message: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

function files(index: ReflectionIndex, file: Parameters<ReflectionIndex["encodeWithDependencies"]>[0]): ReflectionAnswer {
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.encodeWithDependencies(file) } };
}

/** Answers one reflection request; never throws, errors go in error_response as the protocol says. */
export function answerReflection(index: ReflectionIndex, query: ReflectionQuery): ReflectionAnswer {
  switch (query.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.serviceNames.map((name) => ({ name })) } };
    case "fileByFilename": {
      const file = index.fileByName(query.value);
      return file ? files(index, file) : notFound(`file_by_filename: file "${query.value}" not found`);
    }
    case "fileContainingSymbol": {
      const file = index.fileContainingSymbol(query.value);
      return file ? files(index, file) : notFound(`file_containing_symbol: symbol "${query.value}" not found`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = query.value;
      const file = index.fileContainingExtension(containingType, extensionNumber);
      return file
        ? files(index, file)
        : notFound(`file_containing_extension: extension ${extensionNumber} of "${containingType}" not found`);
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbersOf(query.value);
      return numbers
        ? { case: "allExtensionNumbersResponse", value: { baseTypeName: query.value, extensionNumber: numbers } }
        : notFound(`all_extension_numbers_of_type: type "${query.value}" not found`);
    }
    default:
      return {
        case: "errorResponse",
        value: { errorCode: Code.InvalidArgument, errorMessage: "message_request: must be set" },
      };
  }
}

/** The service names reflection lists besides the application's own. */
export const REFLECTION_SERVICES: DescService[] = [v1.ServerReflection, v1alpha.ServerReflection];

/** grpc.reflection.v1.ServerReflection over the given services. */
export function createReflectionV1(index: ReflectionIndex): ServiceImpl<typeof v1.ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield create(v1.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answerReflection(index, request.messageRequest),
        });
      }
    },
  };
}

/** grpc.reflection.v1alpha.ServerReflection, for older clients (grpcurl before v1 support). */
export function createReflectionV1alpha(index: ReflectionIndex): ServiceImpl<typeof v1alpha.ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield create(v1alpha.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answerReflection(index, request.messageRequest),
        });
      }
    },
  };
}
