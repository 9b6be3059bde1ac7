#!/bin/sh
# clang-tidy with the checks of .clang-tidy on every C++ source of the tree (codec, plugin, cli, tests), on
# the compile commands of a build folder (default build/release, configured with compile commands).
# Clang 14 cannot see that libstdc++ 12 has coroutines, so Asio's coroutine support is switched on by hand;
# it does not know GCC's -fno-fat-lto-objects (the release build's link-time optimisation): not a finding.
# GCC's profile-guided optimisation options (the release build's, with a profile) are left out of the compile
# commands Clang reads: it refuses some and reads -fprofile-use as its own kind of profile.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build/release}
[ -f "$build/compile_commands.json" ] || { echo "tidy.sh: no $build/compile_commands.json (cmake --preset release)"; exit 2; }
log=$(mktemp)
db=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$db"' EXIT
sed -E 's/ -fprofile-[a-z-]+(=[^ "]*)?//g; s/ -Wno-(missing-profile|coverage-mismatch)//g' \
  "$build/compile_commands.json" >"$db/compile_commands.json"
# shellcheck disable=SC2046
if run-clang-tidy -quiet -p "$db" -j "$(nproc)" \
     -extra-arg=-Wno-unknown-warning-option -extra-arg=-Wno-ignored-optimization-argument -extra-arg=-DASIO_HAS_CO_AWAIT=1 -extra-arg=-DASIO_HAS_STD_COROUTINE=1 \
     $(git ls-files '*.cpp' | grep -E '^(codec|plugin|cli|tests)/' | grep -v '^tests/fuzz/') >"$log" 2>&1; then
  echo "clang-tidy: $(git ls-files '*.cpp' | grep -E '^(codec|plugin|cli|tests)/' | grep -vc '^tests/fuzz/') files clean"
else
  grep -E 'error:|warning:' "$log" | sort -u | head -50
  echo "clang-tidy: findings (above); fix them or, for a false positive, NOLINT(check) with the reason"
  exit 1
fi
