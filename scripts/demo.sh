#!/bin/sh
# The README's main job: build the CLI and the Wireshark plugin, run the reference broker and nine reference
# devices over loopback (one with a wrong secret) while recording their traffic, then show the handshakes
# twice: as `mqttauth sessions` sees them, and as tshark sees them with the plugin.
#
# tshark 4.0 running as root ignores personal plugin folders and WIRESHARK_PLUGIN_DIR, so as root tshark runs
# as nobody (setpriv) with HOME set to a temporary, world-readable folder holding the plugin and a copy of the
# capture. Nothing is installed system-wide. OUT (default /tmp/mqttauth-mixed.pcap) names the capture.
set -eu
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/mqttauth-mixed.pcap}

# The profile for the release build's profile-guided optimisation, once (scripts/pgo-profile.sh).
[ -n "$(find build/pgo-profile -name '*.gcda' 2>/dev/null | head -n 1)" ] || sh scripts/pgo-profile.sh
cmake --preset release >/dev/null
cmake --build --preset release --target mqttauth mqttauth_plugin

echo "== mqttauth capture mixed -o $out"
./build/release/cli/mqttauth capture mixed -o "$out"

echo
echo "== mqttauth sessions --secrets captures/loopback.secrets $out"
./build/release/cli/mqttauth sessions --secrets captures/loopback.secrets "$out"

if ! command -v tshark >/dev/null 2>&1; then
  echo; echo "(tshark is not installed: sh scripts/install-deps.sh installs it)"; exit 0
fi
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
plugins="$home/.local/lib/wireshark/plugins/4.0/epan"
mkdir -p "$plugins"
cp build/release/plugin/mqttauth.so "$plugins/"
cp "$out" "$home/capture.pcap"
cp captures/loopback.secrets "$home/secrets"
chmod -R a+rX "$home"
as_user=""
[ "$(id -u)" = 0 ] && as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"

echo
echo "== tshark with the plugin: the handshake packets (CONNECT, authenticate, CONNACK, AUTH)"
# shellcheck disable=SC2086
HOME="$home" $as_user tshark -n -r "$home/capture.pcap" -o "mqttauth.secrets:$home/secrets" \
  -Y "mqttauth || mqtt.msgtype == 1 || mqtt.msgtype == 2 || mqtt.msgtype == 15" \
  -o 'gui.column.format:"No","%m","From","%uS","To","%uD","Info","%i","Outcome","%Cus:mqttauth.handshake.outcome","Response","%Cus:mqttauth.verification"' \
  -T fields -E separator=/t -e _ws.col.No -e _ws.col.From -e _ws.col.To -e _ws.col.Info -e _ws.col.Outcome \
  -e _ws.col.Response | awk -F '\t' 'BEGIN { printf "%-6s %-6s %-6s %-38s %-9s %s\n", "FRAME", "FROM", "TO", "INFO", "OUTCOME", "RESPONSE" }
    { printf "%-6s %-6s %-6s %-38s %-9s %s\n", $1, $2, $3, $4, $5, $6 }'
echo
echo "== tshark with the plugin: expert infos"
# shellcheck disable=SC2086
HOME="$home" $as_user tshark -n -q -r "$home/capture.pcap" -o "mqttauth.secrets:$home/secrets" -z expert,note \
  | sed -n '/mqttauth\|Authenticate\|challenge\|response/p'
