# Shared by the bundle tests (test-verifier-bundle.sh, test-verifier-cross.sh); sourced, not run.
# The caller defines `fail MESSAGE`, and sets `work` (a scratch directory) and `demo` (licenses
# minted now by the demo_license example).

# Installs the Debian packages among "$@" that are missing.
install_missing() {
  local need=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [ "${#need[@]}" -gt 0 ] || return 0
  printf '\n== installing %s\n' "${need[*]}"
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}"
}

# Runs PROGRAM... on each demo license and checks the exit status: active 0, frozen 3,
# expired 4, another machine's 10. The state file persists across the runs, as in an application.
expect_outcomes() {
  local label="$1"; shift
  local state="$work/state-$label"
  rm -f "$state"
  local pair token want got
  for pair in active:0 frozen:3 expired:4 other-machine:10; do
    token="${pair%%:*}"; want="${pair##*:}"
    set +e
    "$@" "$demo/keys.txt" "$demo/$token.token" "$state" >"$work/out" 2>"$work/err"
    got=$?
    set -e
    [ "$got" = "$want" ] || { cat "$work/out" "$work/err" >&2; fail "$label on $token: exit $got, want $want"; }
    printf '  %-22s %-14s exit %s: %s\n' "$label" "$token" "$got" "$(head -n 1 "$work/out" | tr -d '\r')"
  done
  grep -q '^tg' "$state" || fail "$label did not save its state"
}
