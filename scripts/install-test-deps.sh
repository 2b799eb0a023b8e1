#!/usr/bin/env bash
# Installs the real tools the test suite runs, from Debian's packages, when any is missing:
# etcd (etcd-server), Prometheus and promtool (prometheus), headless Chromium (chromium), tmux, and
# util-linux's script (bsdutils) for the pseudo-terminal tests; protoc, the gRPC Python plugin and
# runtime, and Go with Debian's packaged gRPC sources for the Python and Go clients (clients/).
# Idempotent and quiet when everything is present. Needs root or sudo for the install.
# Usage: scripts/install-test-deps.sh
set -euo pipefail

declare -A package_of=(
  [etcd]=etcd-server
  [prometheus]=prometheus
  [promtool]=prometheus
  [chromium]=chromium
  [tmux]=tmux
  [script]=bsdutils
  [protoc]=protobuf-compiler
  [grpc_python_plugin]=protobuf-compiler-grpc
  [go]=golang-go
  [protoc-gen-go-grpc]=protoc-gen-go-grpc
)
# Libraries, checked by package (golang/protobuf 1.5 replaces 1.3, which grpc-go 1.33 cannot use with protobuf-go stubs).
libraries=(python3-grpcio python3-protobuf golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev)

missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
for package in "${libraries[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-test-deps: need root (or sudo) to apt-get install: $packages" >&2
    exit 1
  fi
fi

echo "install-test-deps: installing $packages"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $packages >/dev/null
# The packages start system services on their default ports; the tests run their own instances.
if command -v systemctl >/dev/null 2>&1; then
  for unit in etcd prometheus prometheus-node-exporter; do
    systemctl is-active --quiet "$unit" 2>/dev/null && $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-test-deps: $tool still missing" >&2; exit 1; }
done
