#!/usr/bin/env bash
# The load test (examples/load/, release build) against a throwaway local Prosody, then
# ejabberd, at each size given (default 1000 sessions). Installs the servers if missing
# (root). Options after `--` go to every run: scripts/load.sh 1000 2000 -- --messages 50
# Exit status 1 if any run counted a failure or a lost message.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=()
while (($# > 0)) && [ "$1" != -- ]; do
    sizes+=("$1")
    shift
done
if (($# > 0)); then
    shift
fi
if ((${#sizes[@]} == 0)); then
    sizes=(1000)
fi
scripts/install-servers.sh
cargo build --quiet --release --features tokio --example load
load="${CARGO_TARGET_DIR:-target}/release/examples/load"
status=0
for server in prosody ejabberd; do
    for sessions in "${sizes[@]}"; do
        echo "== $server, $sessions sessions"
        "$load" --server "$server" --sessions "$sessions" "$@" || status=1
    done
done
exit "$status"
