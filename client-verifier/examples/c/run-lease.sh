#!/usr/bin/env bash
# The lease client through the C ABI against a real licd: builds libclient_verifier with feature
# `ffi-lease`, compiles examples/c/lease_client.c with -DCV_LEASE_CLIENT, starts licd (the
# debug build `cargo test` made, or LICD=path) with a 1-seat floating product, and checks that
# one machine leases the seat, a second is told every seat is taken, the first's exit gives the
# seat back, and then the second gets it. Exit status non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
fail() { printf 'lease ffi: FAILED: %s\n' "$1" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build -q --bin licd --bin licctl
licd="${LICD:-target/debug/licd}"
licctl="$(dirname "$licd")/licctl"
lib_dir="$(dirname "$(cargo rustc -q -p client-verifier --lib --features ffi-lease \
  --crate-type cdylib --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "client_verifier":
        print([f for f in m["filenames"] if f.endswith(".so")][0])')")"
[ -f "$lib_dir/libclient_verifier.so" ] || fail "no libclient_verifier.so built"
gcc -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Wswitch -Werror -DCV_LEASE_CLIENT \
  -DAPP_ISSUER='"acme-isv"' -DAPP_PRODUCT='"OFFI-FLOAT-C"' \
  -I client-verifier/include client-verifier/examples/c/lease_client.c \
  -L "$lib_dir" -lclient_verifier -Wl,-rpath,"$lib_dir" -o "$work/lease_client"
g++ -std=c++17 -Wall -Wextra -Werror -DCV_LEASE_CLIENT \
  -DAPP_ISSUER='"acme-isv"' -DAPP_PRODUCT='"OFFI-FLOAT-C"' \
  -I client-verifier/include client-verifier/examples/cpp/lease_client.cpp \
  -L "$lib_dir" -lclient_verifier -Wl,-rpath,"$lib_dir" -o "$work/lease_client_cpp"

printf 'ebf72724-bacc-414b-a86b-fda5bcc8153c' >"$work/access.key"
chmod 600 "$work/access.key"
cat >"$work/products.toml" <<'TOML'
[[product]]
id = "OFFI-FLOAT-C"
model = "floating"
lease_secs = 60
[product.entitlements]
export_dxf = true
TOML
port=$((31300 + RANDOM % 500))
"$licd" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
  --data-dir "$work/data" --keys-dir "$work/keys" --access-key-file "$work/access.key" \
  --issuer acme-isv --products "$work/products.toml" 2>"$work/licd.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
"$licd" keys export --keys-dir "$work/keys" 2>/dev/null | grep '^k4\.public\.' >"$work/keys.txt"
"$licctl" --json marketplace send getLicense --url "http://127.0.0.1:$port/marketplace/callback" \
  --access-key-file "$work/access.key" --param customerId=c1 --param businessId=b1 \
  --param orderId=CS-C-1 --param productId=OFFI-FLOAT-C --param amount=1 \
  --param expireTime=20991231000000 \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["response"]["license"])' >"$work/license.txt"

url="http://127.0.0.1:$port"
a='04:7C:16:5E:E3:5D|SN-A|BOARD-A|BFEBFBFF00090672'
b='0B:11:22:33:44:55|SN-B|BOARD-B|BFEBFBFF000A0671'
"$work/lease_client" "$url" "$work/keys.txt" "$work/license.txt" cad:1 "$a" 3 >"$work/a.out" &
first=$!
for _ in $(seq 50); do grep -q 'state=leased valid=1' "$work/a.out" && break; sleep 0.1; done
grep -q 'state=leased valid=1 seat=0' "$work/a.out" || { cat "$work/a.out"; fail "the first machine got no lease"; }
grep -q 'entitlements={"export_dxf":true}' "$work/a.out" || { cat "$work/a.out"; fail "no entitlements"; }
set +e
"$work/lease_client" "$url" "$work/keys.txt" "$work/license.txt" cad:2 "$b" 0 >"$work/b.out"
status=$?
set -e
[ "$status" = 6 ] || { cat "$work/b.out"; fail "a second machine was not told the seat is taken (status $status)"; }
grep -q 'SeatsTaken' "$work/b.out" || fail "no SeatsTaken in: $(cat "$work/b.out")"
wait "$first" || fail "the first machine's program failed"
grep -q '^released$' "$work/a.out" || fail "the first machine did not release"
"$work/lease_client" "$url" "$work/keys.txt" "$work/license.txt" cad:2 "$b" 0 >"$work/b2.out" \
  || { cat "$work/b2.out"; fail "the seat given back was not leased again"; }
grep -q 'state=leased valid=1 seat=0' "$work/b2.out" || fail "unexpected: $(cat "$work/b2.out")"
# C++: the LeaseClient object leases, and its destructor gives the seat back.
"$work/lease_client_cpp" "$url" "$work/keys.txt" "$work/license.txt" cad:3 "$a" >"$work/c.out" \
  || { cat "$work/c.out"; fail "C++: no lease"; }
grep -q 'state=leased valid=1 seat=0 entitlements={"export_dxf":true}' "$work/c.out" \
  || fail "C++: unexpected: $(cat "$work/c.out")"
grep -q '^released$' "$work/c.out" || fail "C++: not released"
# While the C program holds the seat, the C++ one is refused with the code that says so.
"$work/lease_client" "$url" "$work/keys.txt" "$work/license.txt" cad:1 "$a" 3 >"$work/a2.out" &
holder=$!
for _ in $(seq 50); do grep -q 'state=leased valid=1' "$work/a2.out" && break; sleep 0.1; done
set +e
"$work/lease_client_cpp" "$url" "$work/keys.txt" "$work/license.txt" cad:4 "$b" >"$work/d.out"
status=$?
set -e
wait "$holder"
[ "$status" = 6 ] || { cat "$work/d.out"; fail "C++: a second machine was not told the seat is taken ($status)"; }
grep -q 'SeatsTaken' "$work/d.out" || fail "C++: unexpected: $(cat "$work/d.out")"
echo "lease ffi: ok (C and C++: lease, seats taken, release on exit, lease again)"

# C#: the same through the P/Invoke binding, on Mono (installed by the bundle test in CI).
if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then
  [ -z "${CI:-}" ] || fail "mcs and mono are needed for the C# lease test"
  echo "lease ffi: C# SKIPPED (no mcs/mono on this machine)"
  exit 0
fi
cs=client-verifier/bindings/csharp
mcs -nologo -warnaserror -out:"$work/LeaseExample.exe" "$cs/ClientVerifier.cs" "$cs/LeaseExample.cs"
cs_run() { LD_LIBRARY_PATH="$lib_dir" mono "$work/LeaseExample.exe" "$url" "$work/keys.txt" \
  "$work/license.txt" "$1" "$2" acme-isv OFFI-FLOAT-C; }
cs_run cs:1 "$a" >"$work/e.out" || { cat "$work/e.out"; fail "C#: no lease"; }
grep -q 'state=leased valid=1 seat=0 entitlements={"export_dxf":true}' "$work/e.out" \
  || fail "C#: unexpected: $(cat "$work/e.out")"
grep -q '^released$' "$work/e.out" || fail "C#: not released"
"$work/lease_client" "$url" "$work/keys.txt" "$work/license.txt" cad:1 "$a" 3 >"$work/a3.out" &
holder=$!
for _ in $(seq 50); do grep -q 'state=leased valid=1' "$work/a3.out" && break; sleep 0.1; done
set +e
cs_run cs:2 "$b" >"$work/f.out"
status=$?
set -e
wait "$holder"
[ "$status" = 6 ] || { cat "$work/f.out"; fail "C#: a second machine was not told the seat is taken ($status)"; }
echo "lease ffi: C# ok (lease, entitlements, seats taken, release on dispose)"
