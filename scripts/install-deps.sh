#!/bin/sh
# Installs the Debian 12 packages mqttauth needs to build and test, when they are missing (mosquitto, the
# broker, is a third-party peer of the health tests: its service is not needed, the tests start their own).
# Run as root (or with sudo). Safe to run again: it does nothing when everything is there.
set -eu

PACKAGES="cmake g++ make pkg-config libcli11-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev libssl-dev zlib1g-dev libpcap-dev libasio-dev libwireshark-dev wireshark-dev tshark tcpdump mosquitto mosquitto-clients clang-14 libclang-rt-14-dev clang-format clang-tidy git"

# Node.js and npm run the interoperability tests' third-party peers (the field's Mosca stack, MQTT.js), installed
# from npm at test time; Debian's nodejs when the machine has no node of its own.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

if [ -n "$missing" ]; then
  echo "mqttauth: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
else
  echo "mqttauth: build dependencies already installed"
fi
