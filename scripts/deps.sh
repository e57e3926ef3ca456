#!/bin/sh
# Install the tools weft's build and tests need, if any is missing.
# Debian/Ubuntu (apt-get); needs root or sudo.  A marker file makes repeat
# runs free; --force checks again.
set -eu
marker=build/.deps-ok
[ "${1:-}" != "--force" ] && [ -f "$marker" ] && exit 0
need=""
command -v gcc >/dev/null 2>&1 || need="$need gcc"
command -v clang >/dev/null 2>&1 || need="$need clang"
command -v make >/dev/null 2>&1 || need="$need make"
command -v valgrind >/dev/null 2>&1 || need="$need valgrind"
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
if [ -n "$need" ]; then
    echo "weft: installing:$need"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $need >/dev/null
fi
mkdir -p build
touch "$marker"
