#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu (.cargo/config.toml): runs a Windows program under
# Wine, quietly, in a Wine prefix of its own under target/, with the ProcessPrng stand-in
# (scripts/wine/bcryptprimitives.c) on WINEPATH. Builds the stand-in and the prefix on first use.
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
wineserver=$(command -v wineserver || true)

# A prefix whose wineboot was interrupted or failed has a directory but no kernel32.dll, and every
# program then dies with "could not load kernel32.dll, status c0000135". So a prefix counts only
# once wineboot succeeded, the wineserver wrote it out, and kernel32.dll is there (the marker);
# anything else is removed and made again, under a lock so two runners never make it at once.
ready="$WINEPREFIX/.licd-ready"
make_prefix() {
  rm -rf "$WINEPREFIX"
  "$wine" wineboot --init >"$state/wineboot.log" 2>&1 || return 1
  if [ -n "$wineserver" ]; then "$wineserver" -w || return 1; fi
  [ -f "$WINEPREFIX/drive_c/windows/system32/kernel32.dll" ] || return 1
  touch "$ready"
}
if [ ! -f "$ready" ]; then
  exec 9>"$state/prefix.lock"
  flock 9
  attempt=1
  until [ -f "$ready" ] || make_prefix; do
    echo "scripts/wine/run.sh: making the Wine prefix failed (attempt $attempt of 3); wineboot said:" >&2
    tail -n 20 "$state/wineboot.log" >&2 || true
    if [ -n "$wineserver" ]; then "$wineserver" -k 2>/dev/null || true; fi
    if [ "$attempt" -ge 3 ]; then exit 1; fi
    attempt=$((attempt + 1))
    sleep 2
  done
  exec 9>&-
fi
exec "$wine" "$@"
