#!/bin/sh
# Builds and runs every test: the style (clang-format) and lint (clang-tidy) checks, the release build (unit,
# end-to-end, plugin through tshark, benchmark smoke runs), the same suite under AddressSanitizer +
# UndefinedBehaviorSanitizer (the plugin inside tshark too), the tests of threads, the broker and the device
# under ThreadSanitizer, and a short run of every fuzz target (Clang, libFuzzer) on its seed corpus.
# FUZZ_SECONDS sets the length of each fuzz run (default 15).
set -eu
# ctest's status through the pipes to tee: sh has no pipefail, so each ctest log is checked for its summary.
cd "$(dirname "$0")/.."

logs=$(mktemp -d)
# Tests that need tshark fail instead of skipping when it is missing (install-deps.sh installs it).
export MQTTAUTH_REQUIRE_TSHARK=1
# Likewise the tests with Debian's mosquitto-clients, the field's Mosca stack and MQTT.js (from npm).
export MQTTAUTH_REQUIRE_TOOLS=1
count() { sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$1" | tail -n 1; }

echo "== clang-format (the style of .clang-format, on every C++ file)"
# shellcheck disable=SC2046
clang-format --dry-run --Werror $(git ls-files '*.cpp' '*.hpp') || {
  echo "clang-format: run 'clang-format -i \$(git ls-files \"*.cpp\" \"*.hpp\")' and commit"; exit 1; }
echo "clang-format: $(git ls-files '*.cpp' '*.hpp' | wc -l) files as .clang-format says"

echo "== third-party MQTT stacks from npm: the field's Mosca 2.8.3 (patched as the seed write-up says), MQTT.js"
# shellcheck disable=SC2046
set -- $(sh tests/interop/setup-field-stack.sh build/interop)
export MQTTAUTH_FIELD_STACK="$1" MQTTAUTH_MQTTJS="$2"
echo "field stack: $MQTTAUTH_FIELD_STACK; MQTT.js: $MQTTAUTH_MQTTJS"

echo "== release build and tests (optimised with a profile of this source: scripts/pgo-profile.sh)"
sh scripts/pgo-profile.sh
cmake --preset release
cmake --build --preset release
ctest --preset release 2>&1 | tee "$logs/release.log"
[ -n "$(count "$logs/release.log")" ] || exit 1

echo "== clang-tidy (the checks of .clang-tidy, on the release build's compile commands)"
sh scripts/tidy.sh build/release

echo "== the README's main job (scripts/demo.sh)"
OUT="$logs/mixed.pcap" sh scripts/demo.sh >"$logs/demo.log" 2>&1 || { cat "$logs/demo.log"; exit 1; }
# The device with the wrong secret: refused in the sessions table, a mismatch in tshark's view.
for want in "refused (5)" "Mismatch" "does not match the configured secret"; do
  grep -q "$want" "$logs/demo.log" || { cat "$logs/demo.log"; echo "demo.sh: no '$want'"; exit 1; }
done
echo "demo.sh: sessions and tshark with the plugin agree on the refused device"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake --preset asan
cmake --build --preset asan
ctest --preset asan 2>&1 | tee "$logs/asan.log"
[ -n "$(count "$logs/asan.log")" ] || exit 1

echo "== ThreadSanitizer build and the tests of --threads / -j, the broker and the device"
cmake --preset tsan
cmake --build --preset tsan
ctest --preset tsan 2>&1 | tee "$logs/tsan.log"
[ -n "$(count "$logs/tsan.log")" ] || exit 1

echo "== fuzz targets, ${FUZZ_SECONDS:-15} s each"
cmake --preset fuzz
cmake --build --preset fuzz --target fuzz_decode fuzz_stream fuzz_reassembly fuzz_capture fuzz_expect fuzz_websocket fuzz_tls
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for t in decode stream reassembly capture expect websocket tls; do
  mkdir -p "$work/$t"
  seeds="tests/fuzz/corpus/$t tests/fuzz/regressions/$t"
  [ "$t" = capture ] && seeds="$seeds captures"
  # shellcheck disable=SC2086
  if build/fuzz/tests/fuzz_$t "$work/$t" $seeds -max_total_time="${FUZZ_SECONDS:-15}" -timeout=10 \
       -rss_limit_mb=2048 -artifact_prefix="$work/$t-" -print_final_stats=1 >"$work/$t.log" 2>&1; then
    echo "fuzz_$t: $(grep -o 'number_of_executed_units: [0-9]*' "$work/$t.log" | cut -d' ' -f2) runs, no finding"
  else
    echo "fuzz_$t: FINDING"; tail -40 "$work/$t.log"; ls "$work" | grep -- "$t-" || true
    failed=1
  fi
done
[ "$failed" = 0 ] || { echo "fuzzing found a problem: add the input to tests/fuzz/regressions/ and fix it"; exit 1; }
passed_extra=10  # the seven fuzz targets, demo.sh, clang-format and clang-tidy
echo "== all tests passed"
echo "total: $(( $(count "$logs/release.log") + $(count "$logs/asan.log") + $(count "$logs/tsan.log") + passed_extra )) passed, 0 failed"
