"""The binding's own behaviour: arguments, errors, state, fingerprint, offline activation."""

import json
import os
from datetime import datetime, timezone

import pytest

import client_verifier as cv
from test_golden import LICENSES

CASE = next(c for c in LICENSES["cases"] if c["name"] == "active_on_bound_device")
UNBOUND = next(c for c in LICENSES["cases"] if c["name"] == "unbound_accepted_when_binding_optional")
KEYS = [LICENSES["keys"]["current"]["public"], LICENSES["keys"]["old"]["public"]]
ISSUER, PRODUCT = CASE["verifier"]["issuer"], CASE["verifier"]["product"]
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def verifier(**kw):
    return cv.Verifier(KEYS, ISSUER, PRODUCT, **kw)


def test_a_license_reads_as_python_values():
    lic = verifier().verify(CASE["token"], CASE["device"], NOW)
    assert lic.status == "active" and lic.is_active
    assert lic.expires_at == datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert lic.expires_at.tzinfo is not None
    assert lic.id == "lic-0001" and lic.customer == "cust-6a1f" and lic.product == PRODUCT
    assert lic.edition is None and lic.limit("max_projects") == 20 and lic.limit("nope") is None
    assert lic.entitlements == {"edition": "pro", "max_projects": 20}
    assert lic.check_in_by is None and lic.key_id.startswith("k4.pid.")
    # Seconds since 1970 work as well as a datetime.
    assert verifier().verify(CASE["token"], CASE["device"], int(NOW.timestamp())).status == "active"


def test_errors_carry_a_stable_name():
    with pytest.raises(cv.ClientVerifierError) as e:
        cv.Verifier([KEYS[0]], ISSUER, "another-product").verify(CASE["token"], CASE["device"], NOW)
    assert e.value.name == "WrongProduct" and "another-product" in str(e.value)
    with pytest.raises(cv.ClientVerifierError) as e:
        cv.Verifier(["k4.public.nonsense"], ISSUER, PRODUCT)
    assert e.value.name == "BadKey"
    with pytest.raises(cv.ClientVerifierError) as e:
        verifier().verify(CASE["token"], "not|a", NOW)
    assert e.value.name in ("BadFingerprint", "DeviceMismatch")


def test_arguments_that_would_weaken_or_mislead_are_refused():
    # No issuer or product: such a verifier would accept another ISV's licenses.
    for args in ((KEYS,), (KEYS, ISSUER), (KEYS, None, PRODUCT)):
        with pytest.raises(cv.ClientVerifierError) as e:
            cv.Verifier(*args)
        assert e.value.name == "InvalidArgument"
    with pytest.raises(cv.ClientVerifierError) as e:
        cv.Verifier([], ISSUER, PRODUCT)
    assert e.value.name == "InvalidArgument"
    # A naive datetime could be any time zone.
    with pytest.raises(cv.ClientVerifierError) as e:
        verifier().verify(CASE["token"], CASE["device"], datetime(2026, 6, 1))
    assert e.value.name == "InvalidArgument" and "naive" in str(e.value)
    with pytest.raises(cv.ClientVerifierError):
        cv.State("not a state")
    with pytest.raises(TypeError):
        verifier().verify(None)


def test_the_state_guards_the_clock_across_runs():
    state = cv.State()
    verifier().verify(CASE["token"], CASE["device"], NOW, state)
    saved = state.encode()
    assert cv.State(saved).last_seen == NOW
    # The next run's clock set back two days.
    with pytest.raises(cv.ClientVerifierError) as e:
        verifier().verify(CASE["token"], CASE["device"], int(NOW.timestamp()) - 2 * 86400, cv.State(saved))
    assert e.value.name == "ClockRollback"


def test_this_machine_has_a_fingerprint():
    fp = cv.fingerprint()
    assert isinstance(fp, str) and fp.count("|") == 3


def test_an_air_gapped_machine_requests_activation_and_gives_the_seat_back(tmp_path):
    device = CASE["device"]
    request = cv.offline_request(UNBOUND["token"], str(tmp_path), device)
    assert request.startswith("lor1.") and len(request) <= 700
    # Asking again is the same request (the same device key, the same seat); another state
    # directory is another device key, so another request.
    assert cv.offline_request(UNBOUND["token"], str(tmp_path), device) == request
    other = tmp_path / "other"
    assert cv.offline_request(UNBOUND["token"], str(other), device) != request
    # The device key is the machine's secret: readable by its owner alone.
    if os.name == "posix":
        assert os.stat(tmp_path / "device.key").st_mode & 0o077 == 0
    with pytest.raises(cv.ClientVerifierError) as e:
        cv.offline_request("v4.public.bogus", str(tmp_path), device)
    assert e.value.name == "NotALicense"
    with pytest.raises(cv.ClientVerifierError) as e:
        cv.offline_receipt(str(tmp_path / "never-activated"))
    assert e.value.name == "OfflineState"


def test_verification_runs_in_threads_without_the_gil():
    from concurrent.futures import ThreadPoolExecutor

    v = verifier()
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: v.verify(CASE["token"], CASE["device"], NOW).status, range(64)))
    assert got == ["active"] * 64


def test_the_type_stubs_describe_what_the_module_has():
    """The .pyi is written by hand: every name and member it declares must exist, and every
    public one the module has must be declared, so the stubs cannot drift from the module."""
    import ast
    from pathlib import Path

    stub = Path(cv.__file__).with_name("__init__.pyi")
    declared = {}
    for node in ast.parse(stub.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            declared[node.name] = {
                n.name if isinstance(n, ast.FunctionDef) else n.target.id
                for n in node.body
                if isinstance(n, (ast.FunctionDef, ast.AnnAssign))
            }
        elif isinstance(node, ast.FunctionDef):
            declared[node.name] = None
    assert set(cv.__all__) == set(declared), set(cv.__all__) ^ set(declared)
    for name, members in declared.items():
        obj = getattr(cv, name)
        assert callable(obj), name
        if members is None or issubclass(obj, Exception):
            continue
        public = {m for m in dir(obj) if not m.startswith("_")}
        assert {m for m in members if not m.startswith("_")} == public, (name, members ^ public)
        assert all(hasattr(obj, m) for m in members - {"__init__"}), name
    assert cv.ClientVerifierError.__module__ and "name" in declared["ClientVerifierError"]
    assert (stub.parent / "py.typed").exists()
