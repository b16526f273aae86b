#!/usr/bin/env bash
# Writes seed inputs for both fuzz targets from the real-server transcripts in
# tests/fixtures/: every server-to-client chunk, prefixed for stream_reader with a control
# byte (header on) and eight chunk sizes.
set -euo pipefail
cd "$(dirname "$0")"
out=seeds
rm -rf "$out" && mkdir -p "$out/stream_reader" "$out/round_trip"
i=0
for f in ../tests/fixtures/*.xml; do
  # Split on the chunk markers and keep what the server sent.
  awk -v dir="$out" -v base="$(basename "$f" .xml)" '
    /^<!-- S->C (plain|tls) -->$/ { n++; file = dir "/round_trip/" base "-" n; keep = 1; next }
    /^<!-- / { keep = 0; next }
    keep { printf "%s\n", $0 >> file }
  ' "$f"
done
for s in "$out"/round_trip/*; do
  i=$((i + 1))
  { printf '\x01\x07\x40\x01\xff\x03\x10\x80\x02'; cat "$s"; } > "$out/stream_reader/$(basename "$s")"
done
echo "$i seeds per target in fuzz/$out"
