"""The shared golden cases (client-verifier/tests/vectors) through the Python binding: every
case of license-v1.json and rooted-v1.json must get the verdict Rust, C, C++, C#, Node and Java
get."""

import base64
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

import client_verifier as cv

VECTORS = Path(
    os.environ.get("CLIENT_VERIFIER_VECTORS")
    or Path(__file__).resolve().parents[3] / "tests" / "vectors"
)
LICENSES = json.loads((VECTORS / "license-v1.json").read_text(encoding="utf-8"))
ROOTED = json.loads((VECTORS / "rooted-v1.json").read_text(encoding="utf-8"))


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def status_time(lic):
    """The time a status names, as the vectors write it."""
    at = {
        "active": lic.expires_at,
        "frozen": lic.freeze_until,
        "expired": lic.freeze_until,
        "check_in_required": lic.check_in_by,
    }[lic.status]
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def license_verdict(case):
    opts = case["verifier"]
    verifier = cv.Verifier(
        [LICENSES["keys"][name]["public"] for name in opts["trust"]],
        opts.get("issuer"),
        opts.get("product"),
        binding_optional=opts.get("binding") == "optional",
        match_all=opts.get("policy") == "all",
        min_revocation_seq=opts.get("min_revocation_seq", 0),
    )
    last_seen = int(when(case.get("guard_last_seen", "1970-01-01T00:00:00Z")).timestamp())
    state = cv.State(f"tg1.{last_seen}")
    try:
        if "revocations" in case:
            verifier.load_revocations(case["revocations"])
        lic = verifier.verify(case["token"], case.get("device"), when(case["now"]), state)
    except cv.ClientVerifierError as e:
        return {"error": e.name}
    # Every accessor, so each conversion runs on every case.
    assert lic.id and lic.revision >= 1 and isinstance(lic.entitlements, dict)
    assert lic.feature("export") in (True, False)
    assert lic.limit("max_projects") in (None, 20)
    assert lic.origin == case.get("claims", {}).get("origin")
    assert lic.is_trial == (lic.origin == "trial")
    return {"status": lic.status, "at": status_time(lic)}


@pytest.mark.parametrize("case", LICENSES["cases"], ids=[c["name"] for c in LICENSES["cases"]])
def test_license_case(case):
    assert license_verdict(case) == case["expect"]


def token_product(token):
    body = token.split(".")[2]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:-64])["product"]


@pytest.mark.parametrize("case", ROOTED["cases"], ids=[c["name"] for c in ROOTED["cases"]])
def test_rooted_case(case):
    opts = case["verifier"]
    verifier = cv.Verifier(
        [ROOTED["keys"][name] for name in opts.get("trust", [])],
        "acme-isv",
        opts.get("product") or token_product(case["token"]),
        root=ROOTED["roots"][opts["root"]] if "root" in opts else None,
        binding_optional=True,
    )
    state = cv.State()
    try:
        if "key_revocations" in case:
            seq = verifier.load_key_revocations(
                ROOTED["key_revocations"][case["key_revocations"]], state
            )
            assert seq == state.key_revocation_seq > 0
        lic = verifier.verify(case["token"], None, when(case["now"]), state)
        got = {"status": lic.status, "at": status_time(lic)}
        assert state.last_seen == when(case["now"])
    except cv.ClientVerifierError as e:
        got = {"error": e.name}
    assert got == case["expect"]


def test_the_lists_are_not_empty():
    # A lost file or an emptied list would make every parametrized test vanish, not fail.
    assert len(LICENSES["cases"]) >= 40 and len(ROOTED["cases"]) >= 10
