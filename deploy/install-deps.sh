#!/usr/bin/env bash
# Installs Vigil's build and test dependencies from Debian 12 packages. Idempotent: installs
# only what is missing, so a second run is quick and touches nothing.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git
  libsimdjson-dev librocksdb-dev librdkafka-dev
  libboost-dev libboost-system-dev libboost-program-options-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev
  zlib1g-dev libssl-dev libre2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev gnuplot-nox
  curl jq python3 kcat hey
  prometheus  # promtool: tests check /metrics with `promtool check metrics`
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0)" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
