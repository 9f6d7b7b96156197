#!/usr/bin/env bash
# Builds the licd .deb with cargo-deb and checks it without installing it or starting a
# container: package metadata, file list and modes, maintainer scripts, the extracted binaries
# (help and a start/stop with the packaged licd.toml), the systemd unit (systemd-analyze verify
# and an offline security score) and the nginx example (nginx -t with a self-signed cert).
# Exits non-zero on the first problem. Run from anywhere; works in the repository root.
#
# Installs what is missing: cargo-deb (pinned, cargo install --locked) and, as root, nginx,
# openssl and systemd from Debian. nginx is installed with service starts disabled, so it never
# listens on this machine.
#
# Time on the 2-core machine from a clean state: about 10 minutes (cargo-deb install 2.5 min,
# release build of the workspace 7.5 min, checks 15 s); about 15 s when both are already there.
#
# --reuse-dev-build (for CI, after `cargo test --workspace`): package the dev-profile binaries
# the tests already built (`cargo build` makes sure they are current) instead of a release
# build, compressed fast: 15 s on this machine when cargo-deb is installed, about 3 minutes on
# a fresh CI (the cargo-deb install is most of it) instead of 10. Everything checked is
# the same (metadata, files and modes, scripts, a start/stop of the packaged binary, the unit,
# nginx) except the optimisation level of the binaries; cargo-deb warns that the dev profile is
# meant for tests, which this is (the pinned version accepts it). Release packages come from a
# run without the flag.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

reuse_dev_build=false
case "${1:-}" in
    --reuse-dev-build) reuse_dev_build=true ;;
    "") ;;
    *) echo "usage: scripts/package.sh [--reuse-dev-build]" >&2; exit 2 ;;
esac

cargo_deb_version=3.8.0
# systemd-analyze security: exposure x10 above which the check fails (the unit scores 1.4).
max_exposure=20

step() { printf '\n== package: %s (%ss)\n' "$1" "$SECONDS"; }
fail() { echo "package.sh: FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
policy_rc=""
licd_pid=""
cleanup() {
    if [ -n "$licd_pid" ]; then kill "$licd_pid" 2>/dev/null || true; fi
    if [ -n "$policy_rc" ]; then rm -f "$policy_rc"; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Installs Debian packages (root only); service starts are refused while it runs.
apt_install() {
    [ "$(id -u)" = 0 ] || fail "need $* (Debian package); run as root or install it"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy_rc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
        chmod 755 "$policy_rc"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$@" >"$work/apt.log" 2>&1 ||
        { apt-get update -q >>"$work/apt.log" 2>&1 &&
            apt-get install -y -q --no-install-recommends "$@" >>"$work/apt.log" 2>&1; } ||
        { cat "$work/apt.log" >&2; fail "apt-get install $*"; }
    if [ -n "$policy_rc" ]; then rm -f "$policy_rc"; policy_rc=""; fi
}

step "cargo-deb $cargo_deb_version"
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $cargo_deb_version" ]; then
    cargo install --locked --quiet cargo-deb --version "$cargo_deb_version"
fi
cargo deb --version

out="$work/out"
mkdir -p "$out"
if $reuse_dev_build; then
    step "build the .deb (dev-profile binaries of the test build)"
    cargo build --locked --quiet -p licd --bins
    deb_build=(--no-build --profile dev --fast)
else
    step "build the .deb (release build)"
    deb_build=()
fi
cargo deb --locked -p licd "${deb_build[@]}" --output "$out" >"$work/cargo-deb.log" 2>&1 ||
    { cat "$work/cargo-deb.log" >&2; fail "cargo deb"; }
deb=$(find "$out" -name 'licd_*.deb' | head -n1)
[ -n "$deb" ] || fail "cargo deb made no licd_*.deb"
mkdir -p target/debian
cp "$deb" target/debian/
deb="target/debian/$(basename "$deb")"
echo "$deb ($(du -h "$deb" | cut -f1))"

step "package metadata"
dpkg-deb --info "$deb" | tee "$work/info"
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = licd ] || fail "Package is not licd"
grep -qw adduser <<<"$(field Depends)" || fail "Depends lacks adduser (postinst creates the user)"
grep -qw libc6 <<<"$(field Depends)" || fail "Depends lacks libc6 (\$auto did not run dpkg-shlibdeps)"

ctrl="$work/control"
dpkg-deb --control "$deb" "$ctrl"
for f in /etc/licd/licd.toml /etc/licd/licd.env; do
    grep -qx "$f" "$ctrl/conffiles" || fail "$f is not a conffile"
done
for s in postinst postrm prerm; do
    [ -x "$ctrl/$s" ] || fail "maintainer script $s missing or not executable"
    sh -n "$ctrl/$s" || fail "$s: shell syntax"
    if grep -q '#DEBHELPER#' "$ctrl/$s"; then fail "$s: #DEBHELPER# not replaced"; fi
done
grep -q 'adduser --system' "$ctrl/postinst" || fail "postinst does not create the licd user"
grep -q 'deb-systemd-invoke try-restart licd.service' "$ctrl/postinst" ||
    fail "postinst does not restart a running licd after an upgrade"
# No command in postrm may delete recursively (the purge keeps /var/lib/licd); the printed
# hint and comments may mention it.
if grep -E 'rm -[a-zA-Z]*r' "$ctrl/postrm" | grep -Evq '^[[:space:]]*(echo|#)'; then
    fail "postrm deletes recursively; it must keep /var/lib/licd"
fi
if command -v shellcheck >/dev/null; then
    shellcheck -s sh -S warning "$ctrl/postinst" "$ctrl/postrm" "$ctrl/prerm"
fi

step "contents and modes"
dpkg-deb --contents "$deb" | tee "$work/contents"
# mode owner path, as dpkg-deb --contents prints them.
expect() {
    awk -v m="$1" -v p="./$2" '$1 == m && ($2 == "root/root" || $2 == "0/0") && $6 == p { found = 1 }
        END { exit !found }' "$work/contents" || fail "$2: expected $1 root/root in the package"
}
expect -rwxr-xr-x usr/bin/licd
expect -rwxr-xr-x usr/bin/licctl
expect -rw-r--r-- etc/licd/licd.toml
expect -rw------- etc/licd/licd.env
expect -rw-r--r-- usr/lib/systemd/system/licd.service
expect -rw-r--r-- usr/share/doc/licd/README.md
expect -rw-r--r-- usr/share/doc/licd/README.packaging.md
expect -rw-r--r-- usr/share/doc/licd/examples/nginx-licd.conf
expect -rw-r--r-- usr/share/doc/licd/copyright
if grep -Eq ' \./(var|home|tmp|root)/' "$work/contents"; then
    fail "the package ships files under /var, /home, /tmp or /root"
fi

root="$work/root"
dpkg-deb -x "$deb" "$root"
[ "$(stat -c %a "$root/etc/licd/licd.env")" = 600 ] || fail "extracted licd.env is not 0600"
cmp -s "$root/etc/licd/licd.toml" packaging/licd.toml || fail "packaged licd.toml differs"
cmp -s "$root/usr/lib/systemd/system/licd.service" packaging/licd.service ||
    fail "packaged licd.service differs"

step "extracted binaries"
"$root/usr/bin/licd" --version
"$root/usr/bin/licd" --help >/dev/null
"$root/usr/bin/licd" serve --help >/dev/null
"$root/usr/bin/licctl" --help >/dev/null
# A real start with the packaged licd.toml: flags move the state into a scratch directory and
# the listeners onto free ports; SIGTERM must stop it cleanly (exit 0, store flushed).
"$root/usr/bin/licd" serve --config "$root/etc/licd/licd.toml" \
    --data-dir "$work/state/data" --keys-dir "$work/state/keys" \
    --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$work/licd.log" &
licd_pid=$!
addr=""
for _ in $(seq 100); do
    addr=$(sed -n 's/.*listening addr=\([0-9.:]*\).*/\1/p' "$work/licd.log" | head -n1)
    [ -n "$addr" ] && break
    kill -0 "$licd_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$addr" ] || { cat "$work/licd.log" >&2; fail "licd did not start with packaging/licd.toml"; }
curl -sfS --max-time 5 "http://$addr/readyz" >/dev/null || fail "GET /readyz on $addr"
kill -TERM "$licd_pid"
status=0
wait "$licd_pid" || status=$?
licd_pid=""
[ "$status" = 0 ] || { cat "$work/licd.log" >&2; fail "licd exited $status on SIGTERM"; }
grep -q stopped "$work/licd.log" || fail "licd did not log a clean stop"
[ "$(stat -c %a "$work/state/keys")" = 700 ] || fail "keys dir is not 0700"
for k in "$work"/state/keys/*.k4.secret; do
    [ "$(stat -c %a "$k")" = 600 ] || fail "$k is not 0600"
done
echo "started on $addr, ready, stopped cleanly on SIGTERM"

step "systemd unit"
command -v systemd-analyze >/dev/null || apt_install systemd
unit="$work/licd.service"
# Same unit, pointed at the extracted binary so verify can check ExecStart.
sed "s#^ExecStart=/usr/bin/licd #ExecStart=$root/usr/bin/licd #" \
    "$root/usr/lib/systemd/system/licd.service" >"$unit"
grep -q "^ExecStart=$root/usr/bin/licd serve --config /etc/licd/licd.toml$" "$unit" ||
    fail "unexpected ExecStart in licd.service"
verify_out=$(systemd-analyze verify --man=no "$unit" 2>&1) || {
    echo "$verify_out" >&2
    fail "systemd-analyze verify"
}
# verify reports unknown keys and similar problems as warnings with status 0.
if [ -n "$verify_out" ]; then echo "$verify_out" >&2; fail "systemd-analyze verify warned"; fi
echo "systemd-analyze verify: clean"
systemd-analyze security --offline=yes --threshold="$max_exposure" "$unit" >"$work/security" 2>&1 ||
    { cat "$work/security" >&2; fail "systemd-analyze security: exposure above $max_exposure/10"; }
grep 'Overall exposure level' "$work/security"

step "nginx example"
command -v nginx >/dev/null || apt_install nginx
command -v openssl >/dev/null || apt_install openssl
ngx="$work/nginx"
mkdir -p "$ngx"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=licd.example.com -keyout "$ngx/privkey.pem" -out "$ngx/fullchain.pem" 2>/dev/null
sed -e "s#/etc/ssl/licd/#$ngx/#g" -e "s#/var/log/nginx/#$ngx/#g" \
    "$root/usr/share/doc/licd/examples/nginx-licd.conf" >"$ngx/licd.conf"
grep -q "$ngx/fullchain.pem" "$ngx/licd.conf" || fail "nginx example: certificate path moved"
cat >"$ngx/nginx.conf" <<CONF
pid $ngx/nginx.pid;
error_log $ngx/error.log;
events {}
http {
    include $ngx/licd.conf;
}
CONF
nginx -t -q -p "$ngx" -c "$ngx/nginx.conf" || fail "nginx -t rejects the example"
echo "nginx -t: $(nginx -v 2>&1) accepts the example"

step "done: $deb"
