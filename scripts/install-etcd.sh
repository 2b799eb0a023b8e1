#!/usr/bin/env bash
# Installs etcd (Debian's etcd-server package) for the benchmarks' reference runs, if missing.
# Usage: scripts/install-etcd.sh   (needs root or sudo; idempotent)
set -euo pipefail

if command -v etcd >/dev/null 2>&1; then
  echo "etcd already installed: $(command -v etcd) ($(etcd --version 2>/dev/null | head -n1))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-etcd: need root (or sudo) to apt-get install etcd-server" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends etcd-server
# The package starts a system etcd on :2379; the benchmarks run their own on other ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  $SUDO systemctl disable --now etcd || true
fi
echo "etcd installed: $(command -v etcd) ($(etcd --version | head -n1))"
