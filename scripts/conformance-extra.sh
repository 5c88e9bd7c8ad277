#!/usr/bin/env bash
# Go-vs-httptrace conformance on extra scenarios (conformance-extra/extra.go) with the shared
# oracle: copies ../shared/conformance/oracle to a temp dir, adds the file, builds, and checks
# every x_ scenario against target/release/httptrace. Closing line: 'N passed, M failed'.
set -euo pipefail
cd "$(dirname "$0")/.."
oracle_src=../shared/conformance/oracle
[ -d "$oracle_src" ] || { echo "conformance-extra: no $oracle_src, skipped"; exit 0; }
command -v go >/dev/null 2>&1 || { echo "conformance-extra: go not installed, skipped"; exit 0; }
cargo build --release --quiet --bin httptrace
bin="$(pwd)/target/release/httptrace"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$oracle_src" "$work/oracle"
cp conformance-extra/extra.go "$work/oracle/"
(cd "$work/oracle" && go build -o "$work/oracle.bin" .)
# x_max_idle_1 depends on two requests overlapping on a 150 ms handler: kept for manual runs.
scenarios=$("$work/oracle.bin" list | awk '/^x_/ && $1 != "x_max_idle_1" {print $1}')
# shellcheck disable=SC2086
"$work/oracle.bin" check --cmd "'$bin' {url} {method} {header_flags} {body_file} {repeat} {concurrency} {proxy_flag} {cacert_flag} {http_flag} {expect_flag} {keepalive_flag} {max_idle_flag} {abort_flag} --dns hosts {events_flag}" $scenarios
