#!/usr/bin/env bash
# Capture benchmark: wall time and peak memory of reading one large synthetic capture with
#   - pcap_loop         a bare libpcap read loop (the floor: reading the file and nothing else)
#   - mqttauth decode   --format jsonl, output to /dev/null
#   - mqttauth stats    output to /dev/null (skipped when the build has no stats subcommand)
#   - tshark            -T fields -e mqtt.msgtype, output to /dev/null (skipped when tshark is not installed)
# The capture is made by mqttauth_synth with a fixed seed, so every run reads the same bytes.
#
# Usage: tests/bench/capture_bench.sh [BUILD_DIR]      (default: build/release, from the top of the checkout)
# Environment: SIZE_MB (default 100), SEED (default 20251125), CLIENTS (default 50),
#              SPLIT=1 to generate with --segment-split, KEEP=1 to keep the temporary directory.
# Needs GNU time (/usr/bin/time -v). Not part of ctest: it takes a minute or more.
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
SIZE_MB=${SIZE_MB:-100}
SEED=${SEED:-20251125}
CLIENTS=${CLIENTS:-50}

SYNTH=$BUILD/tests/mqttauth_synth
LOOP=$BUILD/tests/pcap_loop
MQTTAUTH=$BUILD/cli/mqttauth
for b in "$SYNTH" "$LOOP" "$MQTTAUTH"; do
  if [ ! -x "$b" ]; then
    echo "capture_bench: $b not found; build first (cmake --build $BUILD)" >&2
    exit 2
  fi
done
if [ ! -x /usr/bin/time ]; then
  echo "capture_bench: /usr/bin/time (GNU time) is needed: apt-get install time" >&2
  exit 2
fi

TMP=$(mktemp -d /tmp/mqttauth-bench-XXXXXX)
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$TMP"' EXIT; fi
CAP=$TMP/bench.pcap

split_opt=()
if [ "${SPLIT:-0}" = 1 ]; then split_opt=(--segment-split); fi
echo "Generating a ${SIZE_MB} MB capture (seed $SEED, $CLIENTS clients${split_opt:+, segment split}) ..."
gen_start=$(date +%s.%N)
"$SYNTH" -o "$CAP" --seed "$SEED" --size-mb "$SIZE_MB" --clients "$CLIENTS" --levels 3,4,5 \
  --manifest "$TMP/manifest.json" "${split_opt[@]}"
gen_end=$(date +%s.%N)
bytes=$(stat -c %s "$CAP")
frames=$(sed -n 's/^  "frames": \([0-9]*\),/\1/p' "$TMP/manifest.json")
packets=$(sed -n 's/^  "packets": \([0-9]*\),/\1/p' "$TMP/manifest.json")
conns=$(sed -n 's/^  "connections": \([0-9]*\),/\1/p' "$TMP/manifest.json")
printf 'Capture: %s bytes, %s frames, %s MQTT packets, %s connections (generated in %.2f s)\n\n' \
  "$bytes" "$frames" "$packets" "$conns" "$(awk -v a="$gen_start" -v b="$gen_end" 'BEGIN { print b - a }')"

# Warm the page cache so that the first tool is not charged for the disk.
cat "$CAP" >/dev/null

rows=()
# measure NAME COMMAND...: runs COMMAND with stdout to /dev/null, records wall time, peak RSS and exit code.
measure() {
  local name=$1
  shift
  local tfile=$TMP/time.txt
  local rc=0
  /usr/bin/time -v -o "$tfile" "$@" >/dev/null 2>"$TMP/stderr.txt" || rc=$?
  local wall rss secs
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tfile")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tfile")
  # h:mm:ss or m:ss.ss to seconds
  secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }')
  local mbps
  mbps=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f", b / 1048576 / s; else printf "-" }')
  rows+=("$(printf '%-34s %9s %10s %13s %5s' "$name" "$secs" "$mbps" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$rc")")
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    echo "capture_bench: $name exited with $rc:" >&2
    head -5 "$TMP/stderr.txt" >&2
  fi
}

echo "Running pcap_loop ..."
measure "pcap_loop (libpcap read loop)" "$LOOP" "$CAP"
echo "Running mqttauth decode --format jsonl ..."
measure "mqttauth decode --format jsonl" "$MQTTAUTH" decode --format jsonl "$CAP"
if "$MQTTAUTH" stats --help >/dev/null 2>&1; then
  echo "Running mqttauth stats ..."
  measure "mqttauth stats" "$MQTTAUTH" stats "$CAP"
else
  echo "mqttauth stats: not in this build, skipped"
fi
if command -v tshark >/dev/null 2>&1; then
  echo "Running tshark -T fields -e mqtt.msgtype ..."
  measure "tshark -T fields -e mqtt.msgtype" tshark -r "$CAP" -T fields -e mqtt.msgtype
else
  echo "tshark: not installed, skipped"
fi

echo
printf '%-34s %9s %10s %13s %5s\n' "tool" "wall s" "MB/s" "peak RSS MB" "exit"
printf '%-34s %9s %10s %13s %5s\n' "----" "------" "----" "-----------" "----"
for r in "${rows[@]}"; do echo "$r"; done
if [ "${KEEP:-0}" = 1 ]; then echo; echo "Kept: $TMP"; fi
