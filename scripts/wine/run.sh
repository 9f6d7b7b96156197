#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu (.cargo/config.toml): runs a Windows program under
# Wine, quietly, in a Wine prefix of its own under target/, with the ProcessPrng stand-in
# (scripts/wine/bcryptprimitives.c) on WINEPATH. Builds the stand-in on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${CARGO_TARGET_DIR:-$repo/target}/wine"
mkdir -p "$state"
shim="$state/bcryptprimitives.dll"
if [ ! -f "$shim" ] || [ "$here/bcryptprimitives.c" -nt "$shim" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -o "$shim" "$here/bcryptprimitives.c" \
    -Wl,--export-all-symbols -ladvapi32
fi
export WINEPREFIX="$state/prefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="bcryptprimitives=n;mscoree,mshtml="
export WINEPATH="$state"
wine=$(command -v wine64 || command -v wine)
if [ ! -d "$WINEPREFIX" ]; then
  "$wine" wineboot --init >/dev/null 2>&1 || true
fi
exec "$wine" "$@"
