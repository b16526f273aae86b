#!/usr/bin/env bash
# Runs every test: the offline suite and the interop suite against real Prosody and
# ejabberd (installed first if missing, which needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-servers.sh
cargo test --all-features -- --include-ignored "$@"
