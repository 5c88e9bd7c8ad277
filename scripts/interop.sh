#!/usr/bin/env bash
# Interop suite: the client against real servers from Debian packages (nginx, tinyproxy,
# microsocks), each started by the tests on loopback with its own config in a temp dir.
# A test whose server is absent prints why and skips.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f crates/httptrace/tests/interop.rs ]; then
  cargo test -p httptrace --test interop -- --test-threads=1 2>&1
else
  echo "interop: no interop suite yet"
fi
