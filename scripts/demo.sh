#!/usr/bin/env bash
# The main job, end to end: installs Prosody if needed (root), starts it on 127.0.0.1 with
# a fresh self-signed certificate, and runs the example chat client as two new users: each
# registers in-band and logs in, prints its roster, alice adds bob and bob approves, a
# message each way, clean close. Prints what happens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-servers.sh
cargo build --quiet --all-features --examples
exec target/debug/examples/demo "$@"
