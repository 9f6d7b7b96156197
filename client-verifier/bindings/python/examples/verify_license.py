"""Reads a license and prints its status: python verify_license.py LICENSE_FILE PUBLIC_KEY_FILE"""
import sys
from pathlib import Path

import client_verifier as cv

token = Path(sys.argv[1]).read_text().strip()
keys = Path(sys.argv[2]).read_text().split()  # k4.public… lines, from `licd keys export`
state_file = Path(sys.argv[3] if len(sys.argv) > 3 else "license.state")

verifier = cv.Verifier(keys, issuer="acme-isv", product="OFFI454488918838374")
state = cv.State(state_file.read_text()) if state_file.exists() else cv.State()
try:
    lic = verifier.verify(token, state=state)  # this machine, the system clock
    print(f"{lic.id}: {lic.status} until {lic.expires_at:%Y-%m-%d}")
except cv.ClientVerifierError as e:
    print(f"not licensed ({e.name}): {e}")
finally:
    state_file.write_text(state.encode())  # whatever the result: the clock guard moves on
