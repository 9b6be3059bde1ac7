#!/usr/bin/env bash
# TLS benchmark: what decrypting MQTT over TLS with a key log costs, against the same traffic over bare TCP.
# The reference broker listens on a plain and an mqtts:// port (a self-signed certificate, its key log);
# DEVICES reference devices publish MESSAGES QoS 1 messages of PAYLOAD bytes each over each, captured on
# loopback with dumpcap (one file per port). Then `stats --threads 1` and `decode --format jsonl` run on both
# captures under callgrind (instructions: independent of the machine's load), and the ratio TLS / bare TCP is
# printed, with the MQTT packet counts of both (they must be equal).
#
# Usage: tests/bench/tls_bench.sh [BUILD_DIR]      (default: build/release, from the top of the checkout)
# Environment: DEVICES (default 10), MESSAGES (per device, default 5000), PAYLOAD (default 200),
#              TLS_MAX (1.2 or 1.3, default 1.3), KEEP=1 keeps the temporary directory.
# Needs root (or CAP_NET_RAW) for dumpcap, valgrind, and the openssl command. Not part of ctest.
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
BIN=$(pwd)/$BUILD/cli/mqttauth
DEVICES=${DEVICES:-10}
MESSAGES=${MESSAGES:-5000}
PAYLOAD=${PAYLOAD:-200}
TLS_MAX=${TLS_MAX:-1.3}
work=$(mktemp -d)
cleanup() {
  pkill -f "dumpcap -q -i lo -f tcp port $P1" 2>/dev/null || true
  pkill -f "dumpcap -q -i lo -f tcp port $P2" 2>/dev/null || true
  [ -n "${broker:-}" ] && kill "$broker" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"
}
P1=$((20000 + RANDOM % 20000))
P2=$((P1 + 1))
trap cleanup EXIT
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1" -days 1 -keyout key.pem -out cert.pem 2>/dev/null
"$BIN" broker -q --listen "127.0.0.1:$P1" --listen "mqtts://127.0.0.1:$P2" --tls-cert cert.pem --tls-key key.pem \
  --tls-keylog keys.txt 2>broker.log &
broker=$!
sleep 1
dumpcap -q -i lo -f "tcp port $P1" -B 64 -w plain.pcapng 2>/dev/null &
dumpcap -q -i lo -f "tcp port $P2" -B 64 -w tls.pcapng 2>/dev/null &
sleep 1
for url in "127.0.0.1:$P1" "mqtts://127.0.0.1:$P2"; do
  for i in $(seq 1 "$DEVICES"); do
    "$BIN" device -q --connect "$url" --client-id "bench-$i" --auth none --publish "$MESSAGES" --qos 1 \
      --interval-ms 0 --payload-size "$PAYLOAD" --tls-ca cert.pem --tls-max "$TLS_MAX" >/dev/null &
  done
  wait $(jobs -p | grep -v "^$broker$" | tail -n "$DEVICES")
done
sleep 1
pkill -INT -f "dumpcap -q -i lo -f tcp port" || true
sleep 1

instructions() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$@" 2>&1 >/dev/null | sed -n 's/.*refs: *//p' | tr -d ,
}
count() { "$BIN" stats --threads 1 "$@" | awk '$1 == "all" { print $2 }'; }
tls_args=(--tls-keylog keys.txt --port "$P2")
echo "captures: plain $(stat -c %s plain.pcapng) bytes, TLS $(stat -c %s tls.pcapng) bytes ($TLS_MAX)"
echo "MQTT packets: plain $(count plain.pcapng), TLS $(count tls.pcapng "${tls_args[@]}")"
for cmd in "stats --threads 1" "decode --format jsonl"; do
  # shellcheck disable=SC2086
  a=$(instructions $cmd plain.pcapng)
  # shellcheck disable=SC2086
  b=$(instructions $cmd tls.pcapng "${tls_args[@]}")
  awk -v c="$cmd" -v a="$a" -v b="$b" \
    'BEGIN { printf "%-22s bare TCP %6.1f M   TLS %6.1f M instructions   ratio %.2f\n", c, a / 1e6, b / 1e6, b / a }'
done
