#!/usr/bin/env bash
# Installs the Debian packages the project's checks need on a fresh machine:
#   golang-go  - Go 1.19 for ../shared/conformance (Go's own client is the reference)
#   nginx-light, tinyproxy, microsocks - real peers for the interop suite (tests/interop)
#   valgrind   - with --bench only: bench/instructions (instructions per request)
# Idempotent: only missing packages are installed. Needs root (as on the project's machines).
set -euo pipefail
need=()
if [ "${1:-}" = --bench ]; then
  command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
fi
command -v go >/dev/null 2>&1 || need+=(golang-go)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || need+=(tinyproxy)
command -v microsocks >/dev/null 2>&1 || need+=(microsocks)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: not root; cannot install ${need[*]} (interop tests will skip)" >&2
  exit 0
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
# Debian starts the services it installs; the tests start their own on ephemeral ports.
for svc in nginx tinyproxy; do
  (systemctl stop "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
done
