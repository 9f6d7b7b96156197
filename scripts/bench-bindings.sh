#!/usr/bin/env bash
# Verify throughput through each language binding against Rust's, side by side in one run:
# the golden case `active_on_bound_device` verified N times (default 20000) after a warm-up,
# in Rust (client-verifier/examples/verify_loop.rs), Python, Node and Java, ROUNDS times
# (default 5) in turn so that the machine's drift falls on every language alike. Prints the
# microseconds per call of each round and each language's median, and its ratio to Rust's.
#
# Usage: scripts/bench-bindings.sh [N] [ROUNDS]
# Builds what it measures first (release): scripts/build-python.sh, build-node.sh, build-java.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"
rounds="${2:-5}"
root="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
vectors="$root/client-verifier/tests/vectors/license-v1.json"
jna="${JNA_JAR:-/usr/share/java/jna.jar}"

cargo build -p client-verifier --release --example verify_loop --quiet
wheel="$(bash scripts/build-python.sh | tail -n 1)"
tgz="$(bash scripts/build-node.sh | tail -n 1)"
jar="$(bash scripts/build-java.sh | tail -n 1)"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
mkdir -p "$work/node" && tar xzf "$tgz" -C "$work/node"

cat >"$work/loop.py" <<'PY'
import json, sys, time
import client_verifier as cv
n, path = int(sys.argv[1]), sys.argv[2]
doc = json.load(open(path))
c = next(c for c in doc["cases"] if c["name"] == "active_on_bound_device")
v = cv.Verifier([doc["keys"]["current"]["public"]], c["verifier"]["issuer"], c["verifier"]["product"])
now = 1780272000  # c["now"]
def run(k):
    for _ in range(k):
        assert v.verify(c["token"], c["device"], now).status == "active"
run(1000)
t = time.perf_counter(); run(n)
print("python %.2f" % ((time.perf_counter() - t) * 1e6 / n))
PY
cat >"$work/loop.js" <<'JS'
const cv = require(process.argv[4]);
const [n, path] = [Number(process.argv[2]), process.argv[3]];
const doc = JSON.parse(require('node:fs').readFileSync(path, 'utf8'));
const c = doc.cases.find((x) => x.name === 'active_on_bound_device');
const v = new cv.Verifier({ publicKeys: [doc.keys.current.public], issuer: c.verifier.issuer, product: c.verifier.product });
const now = 1780272000;
const run = (k) => { for (let i = 0; i < k; i++) if (v.verify(c.token, { fingerprint: c.device, now }).status !== 'active') throw new Error('not active'); };
run(1000);
const t = process.hrtime.bigint(); run(n);
console.log(`node ${(Number(process.hrtime.bigint() - t) / 1e3 / n).toFixed(2)}`);
JS
cat >"$work/Loop.java" <<'JAVA'
import clientverifier.*;
import java.nio.file.*;
import java.util.regex.*;
public class Loop {
    static String field(String json, String name, int from) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
        if (!m.find(from)) throw new IllegalStateException(name);
        return m.group(1);
    }
    public static void main(String[] a) throws Exception {
        int n = Integer.parseInt(a[0]);
        String doc = Files.readString(Path.of(a[1]));
        // The first case is active_on_bound_device (Golden.java checks so).
        int caseStart = doc.indexOf("\"cases\"");
        String token = field(doc, "token", caseStart), device = field(doc, "device", caseStart);
        String key = field(doc, "public", doc.indexOf("\"current\""));
        try (Verifier v = new Verifier(new String[] {key}, "acme-isv", "OFFI454488918838374")) {
            for (int i = 0; i < 1000 + n; i++) {
                if (i == 1000) { a[0] = Long.toString(System.nanoTime()); }
                try (License l = v.verify(token, device, 1780272000L)) {
                    if (l.getStatus() != LicenseStatus.ACTIVE) throw new IllegalStateException();
                }
            }
            System.out.printf("java %.2f%n", (System.nanoTime() - Long.parseLong(a[0])) / 1e3 / n);
        }
    }
}
JAVA
javac -cp "$jar:$jna" -d "$work" "$work/Loop.java"

for r in $(seq "$rounds"); do
  "$root/target/release/examples/verify_loop" "$n"
  "$work/venv/bin/python" "$work/loop.py" "$n" "$vectors"
  node "$work/loop.js" "$n" "$vectors" "$work/node/package"
  java -cp "$work:$jar:$jna" Loop "$n" "$vectors"
done | tee "$work/results"
python3 - "$work/results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    lang, us = line.split()
    runs.setdefault(lang, []).append(float(us))
rust = statistics.median(runs["rust"])
print("median µs/call, ratio to Rust:")
for lang, xs in runs.items():
    m = statistics.median(xs)
    print(f"  {lang:7s} {m:8.2f}  {m / rust:5.2f}x  (rounds: {', '.join(f'{x:.2f}' for x in xs)})")
PY
