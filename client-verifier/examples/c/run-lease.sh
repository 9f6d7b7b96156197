#!/usr/bin/env bash
# The lease client through the C ABI against a real licd: builds libclient_verifier with feature
# `ffi-lease`, compiles examples/c/lease_client.c with -DCV_LEASE_CLIENT, starts licd (the
# debug build `cargo test` made, or LICD=path) with a 1-seat floating product, and checks that
# one machine leases the seat, a second is told every seat is taken, the first's exit gives the
# seat back, and then the second gets it; then the same through the Python, Node.js and Java
# bindings' packages in target/dist, and C#. Exit status non-zero on any failure.
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

# Python, Node.js and Java: the same through their bindings, from the packages the bindings'
# scripts put in target/dist (.ci/run builds them before this; elsewhere, missing ones are
# skipped). Each leases while no one else holds the seat and reads the lease's entitlements,
# is told SeatsTaken while the C program holds it, and gives the seat back when it closes.
bindings_lease() {
  local wheel tgz jar jna="${JNA_JAR:-/usr/share/java/jna.jar}"
  wheel="$(ls target/dist/client_verifier-*.whl 2>/dev/null | tail -n 1)"
  tgz="$(ls target/dist/client-verifier-node-*.tgz 2>/dev/null | tail -n 1)"
  jar="$(ls target/dist/client-verifier-java-*.jar 2>/dev/null | tail -n 1)"
  local langs=()
  if [ -n "$wheel" ]; then
    python3 -m venv "$work/py" && "$work/py/bin/pip" install -q --disable-pip-version-check "$wheel"
    cat >"$work/lease.py" <<'PY'
import sys, client_verifier as cv
url, keys, lic, inst, fp = sys.argv[1:6]
v = cv.Verifier(open(keys).read().split(), "acme-isv", "OFFI-FLOAT-C")
try:
    with cv.LeaseClient(v, url, open(lic).read().strip(), inst, fingerprint=fp) as c:
        lease = v.verify_lease(c.token, fp)
        print(f"state={c.state} valid={int(c.valid)} seat={lease.seat} export_dxf={int(c.lease.feature('export_dxf'))}")
    print("released")
except cv.ClientVerifierError as e:
    print(e.name)
    sys.exit(6)
PY
    langs+=(python)
  fi
  if [ -n "$tgz" ]; then
    mkdir -p "$work/node" && tar xzf "$tgz" -C "$work/node"
    cat >"$work/lease.js" <<'JS'
const fs = require('node:fs');
const cv = require(process.env.CV_NODE);
const [url, keys, lic, instance, fingerprint] = process.argv.slice(2);
const v = new cv.Verifier({ publicKeys: fs.readFileSync(keys, 'utf8').split(/\s+/).filter(Boolean), issuer: 'acme-isv', product: 'OFFI-FLOAT-C' });
cv.LeaseClient.acquire(v, { server: url, license: fs.readFileSync(lic, 'utf8').trim(), instance, fingerprint }).then((c) => {
  const lease = v.verifyLease(c.token, { fingerprint });
  console.log(`state=${c.state} valid=${c.valid ? 1 : 0} seat=${lease.seat} export_dxf=${c.lease.feature('export_dxf') ? 1 : 0}`);
  c.close();
  console.log('released');
}, (e) => { console.log(e.code); process.exit(6); });
JS
    langs+=(node)
  fi
  if [ -n "$jar" ] && [ -r "$jna" ] && command -v javac >/dev/null; then
    cat >"$work/Lease.java" <<'JAVA'
import clientverifier.*;
import java.nio.file.*;
public class Lease {
    public static void main(String[] a) throws Exception {
        String[] keys = Files.readString(Path.of(a[1])).strip().split("\\s+");
        try (Verifier v = new Verifier(keys, "acme-isv", "OFFI-FLOAT-C")) {
            try (LeaseClient c = LeaseClient.acquire(v, a[0], Files.readString(Path.of(a[2])).strip(), a[3], a[4], null, false)) {
                System.out.println("state=" + c.getState().name().toLowerCase() + " valid=" + (c.isValid() ? 1 : 0)
                        + " seat=" + c.getSeat() + " entitlements=" + c.getEntitlementsJson());
            }
            System.out.println("released");
        } catch (ClientVerifierException e) {
            System.out.println(e.getName());
            System.exit(6);
        }
    }
}
JAVA
    javac -d "$work/java" -cp "$jar:$jna" "$work/Lease.java"
    langs+=(java)
  fi
  if [ "${#langs[@]}" -lt 3 ]; then
    [ -z "${CI:-}" ] || fail "the Python, Node.js and Java packages are needed in target/dist (got: ${langs[*]})"
    echo "lease bindings: some SKIPPED (only ${langs[*]:-none} built in target/dist)"
  fi
  local lang status
  for lang in "${langs[@]}"; do
    run_binding() {
      case "$lang" in
        python) "$work/py/bin/python" "$work/lease.py" "$url" "$work/keys.txt" "$work/license.txt" "$1" "$2" ;;
        node) CV_NODE="$work/node/package" node "$work/lease.js" "$url" "$work/keys.txt" "$work/license.txt" "$1" "$2" ;;
        java) java -cp "$work/java:$jar:$jna" Lease "$url" "$work/keys.txt" "$work/license.txt" "$1" "$2" ;;
      esac
    }
    run_binding "$lang:1" "$a" >"$work/$lang-1.out" || { cat "$work/$lang-1.out"; fail "$lang: no lease"; }
    grep -Eq 'state=leased valid=1 seat=0 (export_dxf=1|entitlements=\{"export_dxf":true\})' "$work/$lang-1.out" \
      || fail "$lang: unexpected: $(cat "$work/$lang-1.out")"
    grep -q '^released$' "$work/$lang-1.out" || fail "$lang: not released"
    # The seat it gave back is free at once: the C program leases it.
    "$work/lease_client" "$url" "$work/keys.txt" "$work/license.txt" cad:1 "$a" 6 >"$work/$lang-h.out" &
    holder=$!
    for _ in $(seq 50); do grep -q 'state=leased valid=1' "$work/$lang-h.out" && break; sleep 0.1; done
    grep -q 'state=leased valid=1 seat=0' "$work/$lang-h.out" || fail "$lang: the seat was not given back"
    set +e
    run_binding "$lang:2" "$b" >"$work/$lang-2.out"
    status=$?
    set -e
    wait "$holder"
    [ "$status" = 6 ] && grep -q '^SeatsTaken$' "$work/$lang-2.out" \
      || fail "$lang: a second machine was not told the seat is taken ($status: $(cat "$work/$lang-2.out"))"
    echo "lease bindings: $lang ok (lease, entitlements, seats taken, release on close)"
  done
}
bindings_lease

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
