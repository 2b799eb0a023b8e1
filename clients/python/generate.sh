#!/usr/bin/env bash
# Generates the Python stubs (apiary/v1/*_pb2.py, *_pb2_grpc.py) from proto/ with Debian's protoc
# and grpc_python_plugin (protobuf-compiler, protobuf-compiler-grpc). They are generated, not
# committed: generated code must match the protobuf runtime that imports it (python3-protobuf).
# Usage: clients/python/generate.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rm -rf "$here/apiary"
protoc -I "$root/proto" -I /usr/include \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  --python_out="$here" --grpc_python_out="$here" \
  apiary/v1/telemetry.proto apiary/v1/queen.proto apiary/v1/hive.proto
