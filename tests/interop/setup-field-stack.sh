#!/bin/sh
# Installs the third-party MQTT stacks the interoperability tests use, from npm, into DIR:
#   DIR/field   the field's stack, patched as the seed write-up describes (patch-field-stack.js): Mosca 2.8.3
#               with its mqtt-connection and mqtt-packet. Mosca 2.8.3 needs jsonschema 1.2.4 under current
#               Node (later versions break its option validation).
#   DIR/mqttjs  MQTT.js, current: a stock client (it has its own mqtt-packet, unpatched).
# Prints the two node_modules folders, DIR/field/node_modules first, on one line each.
#
#   sh tests/interop/setup-field-stack.sh DIR
set -eu
dir=${1:?usage: setup-field-stack.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# npm_install FOLDER MARKER PACKAGE...: installs the packages in FOLDER unless MARKER is there already.
npm_install() {
  folder=$1 marker=$2
  shift 2
  mkdir -p "$folder"
  [ -f "$folder/node_modules/$marker/package.json" ] && return 0
  [ -f "$folder/package.json" ] || printf '{"name":"mqttauth-interop","private":true}\n' >"$folder/package.json"
  (cd "$folder" && npm install --no-audit --no-fund --loglevel=error "$@" >npm-install.log 2>&1) ||
    { cat "$folder/npm-install.log" >&2; exit 1; }
}
# Optional native add-ons of Mosca's dependencies (leveldown, kerberos...) are not needed: the broker keeps its
# state in memory.
npm_install "$dir/field" mosca mosca@2.8.3 jsonschema@1.2.4
npm_install "$dir/mqttjs" mqtt mqtt
node "$here/patch-field-stack.js" "$dir/field/node_modules" >&2
echo "$dir/field/node_modules"
echo "$dir/mqttjs/node_modules"
