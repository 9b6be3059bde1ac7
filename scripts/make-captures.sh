#!/bin/sh
# Regenerates the loopback capture corpus of captures/ (captures/loopback-*.pcap, their golden decode and
# sessions outputs, captures/loopback.secrets): the broker and reference devices over real loopback
# sockets, recorded in stable mode (--seed 1), so the files are the same on every run.
#
#   sh scripts/make-captures.sh [BUILD_DIR]     # default build/release (configured with the release preset)
#
# tests/e2e/corpus_test.cpp checks that the committed files are exactly what this makes.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build/release}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake --preset release
  build=build/release
fi
cmake --build "$build" --target mqttauth
bin="$build/cli/mqttauth"
out=captures
SCENARIOS="success-code0 success-code15 refused-code0 refused-code15 seed-compat v5-auth v5-reauth no-response many-devices large-payload mixed qos-flows takeover will-retained"

"$bin" capture --write-secrets "$out/loopback.secrets"
for s in $SCENARIOS; do
  "$bin" capture "$s" -o "$out/loopback-$s.pcap" --seed 1
  "$bin" decode "$out/loopback-$s.pcap" --color never >"$out/loopback-$s.decode.txt"
  "$bin" sessions --secrets "$out/loopback.secrets" "$out/loopback-$s.pcap" --color never >"$out/loopback-$s.sessions.txt"
done
echo "captures/: $(echo $SCENARIOS | wc -w) loopback captures regenerated"
