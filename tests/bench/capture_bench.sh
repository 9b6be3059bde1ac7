#!/usr/bin/env bash
# Capture benchmark: wall time and peak memory of reading large synthetic captures (100 MB and 1 GB by
# default) with
#   - pcap_loop                  a bare libpcap read loop (the floor: reading the file and nothing else)
#   - mqttauth stats             output to /dev/null: single-threaded (--threads 1) and with the default
#                                threads (one per core, at most 4)
#   - mqttauth decode            --format jsonl, output to /dev/null
#   - mqttauth sessions          output to /dev/null
#   - tshark -T fields           -e mqtt.msgtype, output to /dev/null (skipped when tshark is not installed;
#                                run once per size, not REPS times: it is slow)
#   - Suricata                   when SURICATA names a Suricata 7 binary (Debian 12 has no package: build one
#                                from the upstream release): its MQTT parser with no rules and no output
#                                (--runmode single, then autofp), and with one EVE record per MQTT transaction;
#                                the MQTT flows and transactions it counted are printed, to show it parsed them
# each REPS times (the median wall time is shown, with its ratio to pcap_loop, and the largest peak RSS),
# then checks that the packets per type counted by `mqttauth stats` equal the generator's manifest exactly,
# for each capture and for one generated with --segment-split.
#
# The captures are made by mqttauth_synth with a fixed seed (the same bytes on every run): 50 connections
# open at once, levels 3, 4 and 5, the custom handshake, MQTT 5 enhanced authentication, reconnects, PUBLISH
# packets of 20-500 bytes and a few of 10-64 KB over many segments, several packets per segment. They are
# written to a temporary directory under /tmp (or BENCH_DIR) and deleted at the end.
#
# Usage: tests/bench/capture_bench.sh [BUILD_DIR]      (default: build/release, from the top of the checkout)
# Environment: SIZES (MB, default "100 1024"), REPS (default 5), SEED (default 20251125), CLIENTS (default
#              50), SPLIT_MB (size of the --segment-split manifest check, default 100; 0 skips it),
#              TSHARK=0 to skip tshark, SURICATA=path to add Suricata, KEEP=1 to keep the temporary directory,
#              BENCH_DIR (default /tmp) where it is made: /dev/shm keeps the captures in memory on a machine
#              whose kernel reclaims page cache on its own (the runs then never wait for the disk).
# Needs GNU time (/usr/bin/time -v). Not part of ctest: it takes a few minutes.
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
SIZES=${SIZES:-100 1024}
REPS=${REPS:-5}
SEED=${SEED:-20251125}
CLIENTS=${CLIENTS:-50}
SPLIT_MB=${SPLIT_MB:-100}

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
have_tshark=0
if [ "${TSHARK:-1}" != 0 ] && command -v tshark >/dev/null 2>&1; then have_tshark=1; fi
SURICATA=${SURICATA:-}
if [ -n "$SURICATA" ] && [ ! -x "$SURICATA" ]; then
  echo "capture_bench: SURICATA=$SURICATA is not an executable" >&2
  exit 2
fi

TMP=$(mktemp -d "${BENCH_DIR:-/tmp}/mqttauth-bench-XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$TMP"' EXIT; fi

# suricata_config FILE EVE(yes|no): a configuration with the MQTT parser on, no rules, the stream engine's
# memory caps raised (no flow is given up), and either no output or an EVE log of MQTT transactions only; the
# stats log (totals, written once at the end) is what suricata_counts reads.
suricata_config() {
  cat >"$1" <<YAML
%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "any"
    EXTERNAL_NET: "any"
app-layer:
  protocols:
    mqtt:
      enabled: yes
      max-msg-length: 1mb
stats:
  enabled: yes
  interval: 100000
outputs:
  - eve-log:
      enabled: $2
      filetype: regular
      filename: eve.json
      types:
        - mqtt
  - stats:
      enabled: yes
      filename: stats.log
      append: no
      totals: yes
      threads: no
stream:
  memcap: 1gb
  reassembly:
    memcap: 2gb
    depth: 0
YAML
}

# suricata_counts DIR: the MQTT flows and transactions in Suricata's stats log.
suricata_counts() {
  awk -F'|' '/^app_layer.flow.mqtt / { f = $3 } /^app_layer.tx.mqtt / { t = $3 }
             END { gsub(/ /, "", f); gsub(/ /, "", t); printf "%s MQTT flows, %s MQTT transactions", f, t }' "$1/stats.log"
}

# generate FILE SIZE_MB [--segment-split]: the capture and FILE.manifest.json.
generate() {
  local file=$1 size=$2
  shift 2
  "$SYNTH" -o "$file" --seed "$SEED" --size-mb "$size" --clients "$CLIENTS" --levels 3,4,5 \
    --large-ratio 0.002 --reconnect-ratio 0.2 --v5-auth-ratio 0.3 --manifest "$file.manifest.json" "$@"
}

# manifest_check FILE: the per-type packet counts of `mqttauth stats` against the manifest. Prints the verdict;
# returns 1 on a difference.
manifest_check() {
  local file=$1
  # Manifest: lines '    "type": N' inside "packets_by_type".
  sed -n '/"packets_by_type"/,/}/s/^ *"\([a-z]*\)": \([0-9]*\),*$/\1 \2/p' "$file.manifest.json" | sort >"$TMP/want.txt"
  # stats --format jsonl: "packets":{"type":{"c2s":..,"s2c":..,"unknown":..,"total":N},...}
  "$MQTTAUTH" stats --format jsonl "$file" | grep -o '"[a-z]*":{"c2s":[0-9]*,"s2c":[0-9]*,"unknown":[0-9]*,"total":[0-9]*}' |
    sed 's/^"\([a-z]*\)".*"total":\([0-9]*\)}$/\1 \2/' | sort >"$TMP/got.txt"
  if cmp -s "$TMP/want.txt" "$TMP/got.txt"; then
    echo "manifest check ($(basename "$file")): OK, $(wc -l <"$TMP/want.txt") packet types, $(awk '{ s += $2 } END { print s }' "$TMP/want.txt") packets, equal counts"
  else
    echo "manifest check ($(basename "$file")): DIFFERENT (manifest < > mqttauth stats)"
    diff "$TMP/want.txt" "$TMP/got.txt" || true
    return 1
  fi
}

# run_once COMMAND...: one run, stdout to /dev/null; sets WALL (s), RSS (KB) and RC.
run_once() {
  RC=0
  # The wall time from the clock in nanoseconds (GNU time shows hundredths only); GNU time for the peak RSS.
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$TMP/time.txt" "$@" >/dev/null 2>"$TMP/stderr.txt" || RC=$?
  t1=$(date +%s%N)
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  RSS=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time.txt")
  if [ "$RC" -ne 0 ] && [ "$RC" -ne 1 ]; then
    echo "capture_bench: exit $RC from $*:" >&2
    head -5 "$TMP/stderr.txt" >&2
  fi
}

# measure NAME REPS COMMAND...: median wall time, largest peak RSS; appends a row to ROWS.
measure() {
  local name=$1 reps=$2
  shift 2
  local walls=() rss_max=0 rc=0
  for ((i = 0; i < reps; i++)); do
    run_once "$@"
    walls+=("$WALL")
    if [ "$RSS" -gt "$rss_max" ]; then rss_max=$RSS; fi
    if [ "$RC" -gt "$rc" ]; then rc=$RC; fi
  done
  local med
  med=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  if [ "$name" = pcap_loop ]; then LOOP_WALL=$med; fi
  ROWS+=("$name|$med|$rss_max|$rc|$reps")
}

print_table() {
  local bytes=$1
  printf '%-56s %9s %9s %11s %12s %5s\n' "command" "median s" "MB/s" "x pcap_loop" "peak RSS MB" "exit"
  printf '%-56s %9s %9s %11s %12s %5s\n' "-------" "--------" "----" "-----------" "-----------" "----"
  local r name med rss rc reps
  for r in "${ROWS[@]}"; do
    IFS='|' read -r name med rss rc reps <<<"$r"
    awk -v n="$name" -v m="$med" -v b="$bytes" -v l="$LOOP_WALL" -v k="$rss" -v rc="$rc" -v reps="$reps" 'BEGIN {
      if (reps == 1) n = n " (1 run)";
      printf "%-56s %9.3f %9s %11s %12.1f %5s\n", n, m, (m > 0 ? sprintf("%.0f", b / 1048576 / m) : "-"),
             (l > 0 ? sprintf("%.1f", m / l) : "-"), k / 1024, rc }'
  done
}

status=0
for size in $SIZES; do
  CAP=$TMP/bench-${size}mb.pcap
  echo "== ${size} MB capture (seed $SEED, $CLIENTS clients) =="
  gen_start=$(date +%s.%N)
  generate "$CAP" "$size"
  gen_end=$(date +%s.%N)
  bytes=$(stat -c %s "$CAP")
  m=$CAP.manifest.json
  printf 'Capture: %s bytes, %s frames, %s MQTT packets, %s connections (%s reconnects, %s with MQTT 5 AUTH), %s PUBLISH of 10-64 KB (generated in %.1f s)\n' \
    "$bytes" "$(sed -n 's/^  "frames": \([0-9]*\),/\1/p' "$m")" "$(sed -n 's/^  "packets": \([0-9]*\),/\1/p' "$m")" \
    "$(sed -n 's/^  "connections": \([0-9]*\),/\1/p' "$m")" "$(sed -n 's/^  "reconnects": \([0-9]*\),/\1/p' "$m")" \
    "$(sed -n 's/^  "v5_auth_connections": \([0-9]*\),/\1/p' "$m")" "$(sed -n 's/^  "large_publishes": \([0-9]*\),/\1/p' "$m")" \
    "$(awk -v a="$gen_start" -v b="$gen_end" 'BEGIN { print b - a }')"
  cat "$CAP" >/dev/null  # warm the page cache: no tool is charged for the disk
  ROWS=()
  LOOP_WALL=0
  echo "Running (median of $REPS) ..."
  measure pcap_loop "$REPS" "$LOOP" "$CAP"
  measure "mqttauth stats --threads 1" "$REPS" "$MQTTAUTH" stats --threads 1 "$CAP"
  measure "mqttauth stats (threads: $(nproc), at most 4)" "$REPS" "$MQTTAUTH" stats "$CAP"
  measure "mqttauth decode --format jsonl" "$REPS" "$MQTTAUTH" decode --format jsonl "$CAP"
  measure "mqttauth sessions" "$REPS" "$MQTTAUTH" sessions "$CAP"
  if [ "$have_tshark" = 1 ]; then
    measure "tshark -T fields -e mqtt.msgtype" 1 tshark -r "$CAP" -T fields -e mqtt.msgtype
  fi
  if [ -n "$SURICATA" ]; then
    mkdir -p "$TMP/suricata"
    suricata_config "$TMP/suricata/parse.yaml" no
    suricata_config "$TMP/suricata/eve.yaml" yes
    suricata_reps=$((REPS < 3 ? REPS : 3))
    for mode in single autofp; do
      measure "suricata --runmode $mode (MQTT parser, no output)" "$suricata_reps" "$SURICATA" -c "$TMP/suricata/parse.yaml" \
        -S /dev/null -k none --runmode "$mode" -l "$TMP/suricata" -r "$CAP"
    done
    measure "suricata --runmode single, EVE mqtt records" "$suricata_reps" "$SURICATA" -c "$TMP/suricata/eve.yaml" \
      -S /dev/null -k none --runmode single -l "$TMP/suricata" -r "$CAP"
    rm -f "$TMP/suricata/eve.json"
  fi
  echo
  print_table "$bytes"
  if [ -n "$SURICATA" ]; then echo "Suricata counted (last run): $(suricata_counts "$TMP/suricata")"; fi
  echo
  manifest_check "$CAP" || status=1
  rm -f "$CAP" "$CAP.manifest.json"
  echo
done

if [ "$SPLIT_MB" != 0 ]; then
  CAP=$TMP/split-${SPLIT_MB}mb.pcap
  echo "== ${SPLIT_MB} MB capture with --segment-split =="
  generate "$CAP" "$SPLIT_MB" --segment-split
  manifest_check "$CAP" || status=1
  rm -f "$CAP" "$CAP.manifest.json"
fi
if [ "$have_tshark" = 0 ]; then echo "tshark: not run (not installed, or TSHARK=0)"; fi
if [ "${KEEP:-0}" = 1 ]; then echo "Kept: $TMP"; fi
exit $status
