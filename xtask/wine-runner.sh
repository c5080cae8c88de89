#!/usr/bin/env bash
# Cargo's target runner for i686-pc-windows-gnu: runs a Windows test program under Wine.
#
# Wine 8 has no bcryptprimitives.dll, which Rust's std imports; a tiny test-only shim is
# built once and placed beside the program. The Wine prefix lives under target/ so that
# tests never touch the user's own ~/.wine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
shim="$target/wine-shim/bcryptprimitives.dll"
if [ ! -f "$shim" ]; then
    mkdir -p "$(dirname "$shim")"
    i686-w64-mingw32-gcc -O2 -shared -s -Wl,--kill-at -o "$shim.tmp.$$" \
        "$root/xtask/shim/bcryptprimitives.c" -ladvapi32
    mv -f "$shim.tmp.$$" "$shim"
fi
exe_dir="$(dirname "$1")"
[ -f "$exe_dir/bcryptprimitives.dll" ] || cp "$shim" "$exe_dir/bcryptprimitives.dll"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEPREFIX="${WINEPREFIX:-$target/wine-prefix}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
exec wine "$@"
