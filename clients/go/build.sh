#!/usr/bin/env bash
# Generates the Go stubs from proto/ and builds cmd/apiary-find, offline, from Debian's packaged
# sources (golang-google-grpc-dev, golang-google-protobuf-dev, protoc-gen-go-grpc): GOPATH mode
# over /usr/share/gocode, no module proxy. The stubs (apiary/v1/) are generated, not committed,
# so they always match proto/ and the protobuf runtime they are built against.
# Usage: clients/go/build.sh [OUT_DIR]   (default OUT_DIR: node_modules/.cache/apiary-go)
# Prints the path of the built binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/node_modules/.cache/apiary-go}
import_path=apiary/clients/go
mkdir -p "$out/gopath/src/$(dirname "$import_path")" "$out/bin"
ln -sfn "$here" "$out/gopath/src/$import_path"

export GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0
export GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/cache"

# protoc-gen-go from the same source tree as the runtime the stubs link against.
[ -x "$out/bin/protoc-gen-go" ] || go build -o "$out/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go

files=(telemetry.proto queen.proto hive.proto)
mappings=()
for f in "${files[@]}"; do mappings+=("M apiary/v1/$f=$import_path/apiary/v1;apiaryv1"); done
go_opts=$(IFS=,; echo "${mappings[*]// /}")
rm -rf "$here/apiary"
mkdir -p "$here/apiary"
protoc -I "$root/proto" -I /usr/include \
  --plugin=protoc-gen-go="$out/bin/protoc-gen-go" --plugin=protoc-gen-go-grpc=/usr/bin/protoc-gen-go-grpc \
  --go_out="$here/apiary" --go_opt="paths=import,module=$import_path/apiary,$go_opts" \
  --go-grpc_out="$here/apiary" --go-grpc_opt="paths=import,module=$import_path/apiary,$go_opts" \
  "${files[@]/#/apiary/v1/}"

cd "$out/gopath/src/$import_path"
go vet ./cmd/... ./client/...
go build -o "$out/bin/apiary-find" ./cmd/apiary-find
echo "$out/bin/apiary-find"
