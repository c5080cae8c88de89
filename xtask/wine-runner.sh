#!/usr/bin/env bash
# Cargo's target runner for i686-pc-windows-gnu: runs a Windows program under Wine.
#
#   wine-runner.sh PROGRAM.exe [ARGS...]   run it (cargo does this for `cargo test/run --target ...`)
#   wine-runner.sh --prepare               build the shim and create the Wine prefix, then exit
#
# Wine 8 has no bcryptprimitives.dll, whose ProcessPrng Rust's std imports: a tiny
# test-only shim is built once and copied beside the program (Windows 10 and later
# have the real DLL; the shim is never shipped). The Wine prefix lives under target/
# so that tests never touch the user's own ~/.wine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
shim="$target/wine-shim/bcryptprimitives.dll"

export WINEDEBUG="${WINEDEBUG:--all}"
export WINEPREFIX="${WINEPREFIX:-$target/wine-prefix}"
# No Mono or Gecko installer dialogs: nothing here needs .NET or HTML.
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
# Printing a Rust backtrace crashes inside Wine's msvcrt (i686): a failing test
# would end in a page fault instead of its message. Backtraces are native-only.
export RUST_BACKTRACE=0

if [ ! -f "$shim" ]; then
    mkdir -p "$(dirname "$shim")"
    i686-w64-mingw32-gcc -O2 -shared -s -Wl,--kill-at -o "$shim.tmp.$$" \
        "$root/xtask/shim/bcryptprimitives.c" -ladvapi32
    mv -f "$shim.tmp.$$" "$shim"
fi

if [ "${1:-}" = "--prepare" ]; then
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        echo "wine-runner: creating the Wine prefix $WINEPREFIX (once, about 10 s)"
        wineboot --init >/dev/null 2>&1 || wine wineboot --init
        wineserver -w
    fi
    echo "wine-runner: shim $shim, prefix $WINEPREFIX ($(wine --version))"
    exit 0
fi

exe_dir="$(dirname "$1")"
[ -f "$exe_dir/bcryptprimitives.dll" ] || cp "$shim" "$exe_dir/bcryptprimitives.dll"
exec wine "$@"
