#!/bin/sh
# Profile-guided optimisation, step one: builds mqttauth instrumented (the pgo-generate preset, build/pgo-gen),
# runs the analysis commands on synthetic captures of the benchmark's traffic mix (and of the rarer paths:
# segments cut inside packets, large packets, WebSocket with and without deflate, keep-alive faults, pcapng),
# and leaves the profile in build/pgo-profile. The release preset then optimises with it (CMakeLists.txt,
# MQTTAUTH_PGO); without it the release build is made as before. Takes about two minutes on two cores.
set -eu
cd "$(dirname "$0")/.."

cmake --preset pgo-generate >/dev/null
cmake --build --preset pgo-generate --target mqttauth mqttauth_synth
rm -rf build/pgo-profile  # a profile of this source only

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
synth=build/pgo-gen/tests/mqttauth_synth
m=build/pgo-gen/cli/mqttauth
mix="--levels 3,4,5 --large-ratio 0.002 --reconnect-ratio 0.2 --v5-auth-ratio 0.3"
# shellcheck disable=SC2086
{
  "$synth" -o "$work/main.pcap" --seed 11 --size-mb 40 --clients 50 $mix
  "$synth" -o "$work/many.pcap" --seed 12 --size-mb 10 --clients 2000 $mix
  "$synth" -o "$work/split.pcapng" --seed 13 --size-mb 5 --clients 20 $mix --segment-split --keep-alive-faults 0.2 \
    --pcapng
  "$synth" -o "$work/ws.pcap" --seed 14 --size-mb 3 --clients 10 $mix --websocket
  "$synth" -o "$work/wsd.pcap" --seed 15 --size-mb 3 --clients 10 $mix --websocket-deflate
} >/dev/null

# Each command as users run it. The profile is of single-threaded runs (counters updated from several threads
# would only add noise). A command's exit status may report findings (check); a crash still stops this.
run() {
  status=0
  "$m" "$@" >/dev/null 2>&1 || status=$?
  [ "$status" -lt 64 ] || { echo "pgo-profile.sh: mqttauth $* ended with status $status"; exit 1; }
}
for f in main many split ws wsd; do
  ext=pcap
  [ "$f" = split ] && ext=pcapng
  run stats --threads 1 "$work/$f.$ext"
  run sessions --format jsonl "$work/$f.$ext"
  run check "$work/$f.$ext"
done
run stats --threads 1 --format jsonl "$work/main.pcap"
run sessions "$work/many.pcap"
run decode --format jsonl "$work/split.pcapng"
run decode "$work/ws.pcap"
n=$(find build/pgo-profile -name '*.gcda' | wc -l)
[ "$n" -gt 0 ] || { echo "pgo-profile.sh: no profile was written"; exit 1; }
echo "pgo-profile.sh: profile of $n object files in build/pgo-profile"
