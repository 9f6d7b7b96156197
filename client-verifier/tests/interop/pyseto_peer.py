#!/usr/bin/env python3
"""An independent PASETO v4.public peer for client-verifier's interoperability test.

Commands (one per run, results as one JSON line on stdout):
  verify PUBLIC_PASERK TOKEN          -> {"payload": "...", "footer": "..."}
  sign SECRET_PASERK PAYLOAD FOOTER   -> {"token": "..."}
  pid PUBLIC_PASERK                   -> {"pid": "k4.pid...."}
Exit status 1 with the error on stderr when pyseto refuses.
"""
import json
import sys

import pyseto
from pyseto import Key


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "verify":
        key = Key.from_paserk(args[0])
        token = pyseto.decode(key, args[1])
        out = {"payload": token.payload.decode("utf-8"), "footer": token.footer.decode("utf-8")}
    elif cmd == "sign":
        key = Key.from_paserk(args[0])
        token = pyseto.encode(key, args[1].encode("utf-8"), footer=args[2].encode("utf-8"))
        out = {"token": token.decode("ascii")}
    elif cmd == "pid":
        out = {"pid": Key.from_paserk(args[0]).to_paserk_id()}
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Exception as e:  # report pyseto's refusal to the Rust side
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
