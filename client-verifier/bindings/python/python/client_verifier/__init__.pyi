from datetime import datetime
from types import TracebackType
from typing import Any, Dict, List, Literal, Optional, Sequence, Type, Union

Now = Union[int, datetime, None]
"""Seconds since 1970 (UTC), an aware datetime, or None for the system clock."""

Status = Literal["active", "frozen", "expired", "check_in_required", "lease_required"]

class ClientVerifierError(Exception):
    """A license, key, fingerprint or argument was refused.

    ``name`` is the reason's stable name, as the C ABI's result names: ``Malformed``,
    ``BadSignature``, ``UnknownKey``, ``WrongIssuer``, ``WrongProduct``, ``NotYetValid``,
    ``DeviceMismatch``, ``NotBound``, ``Revoked``, ``ClockRollback``, ``StaleRevocationList``,
    ``Uncertified``, ``LeaseEnded``, ``BadKey``, ``BadFingerprint``, ``FingerprintUnavailable``,
    ``InvalidArgument``, ``NotALicense``, ``OfflineState``, ``SeatsTaken``, ``LeaseRefused``,
    ``ServerUnreachable``, ``Internal``.
    """

    name: str

class State:
    """What the application keeps between runs (clock rollback guard, newest revocation list,
    key revocations and root version). Save ``encode()``; give it back to ``State(text)``."""

    def __init__(self, text: Optional[str] = None) -> None: ...
    def encode(self) -> str: ...
    @property
    def last_seen(self) -> datetime: ...
    @property
    def revocation_seq(self) -> int: ...
    @property
    def key_revocation_seq(self) -> int: ...
    @property
    def root_version(self) -> int: ...

class License:
    """A license that verified. Frozen and expired licenses verify too: read ``status``."""

    @property
    def status(self) -> Status: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def freeze_until(self) -> datetime: ...
    @property
    def check_in_by(self) -> Optional[datetime]: ...
    @property
    def id(self) -> str: ...
    @property
    def customer(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def product(self) -> str: ...
    @property
    def sku(self) -> str: ...
    @property
    def order(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def quantity(self) -> int: ...
    @property
    def edition(self) -> Optional[str]: ...
    @property
    def key_id(self) -> str: ...
    @property
    def origin(self) -> Optional[Literal["direct", "trial"]]:
        """How the ISV sold it, when the marketplace did not: "direct" or "trial"."""
    @property
    def is_trial(self) -> bool: ...
    @property
    def entitlements(self) -> Dict[str, Any]: ...
    def feature(self, name: str) -> bool: ...
    def limit(self, name: str) -> Optional[int]: ...

class Lease:
    """A verified lease of one seat of a floating license."""

    @property
    def expires_at(self) -> datetime: ...
    @property
    def id(self) -> str: ...
    @property
    def license(self) -> str: ...
    @property
    def seat(self) -> int: ...
    @property
    def instance(self) -> str: ...
    @property
    def borrowed(self) -> bool: ...
    @property
    def edition(self) -> Optional[str]: ...
    def feature(self, name: str) -> bool: ...
    def limit(self, name: str) -> Optional[int]: ...

class Verifier:
    """Checks licenses offline against the ISV's public keys (PASERK ``k4.public``) and/or its
    root document, for one issuer and one product."""

    def __init__(
        self,
        public_keys: Sequence[str] = ...,
        issuer: Optional[str] = None,
        product: Optional[str] = None,
        *,
        root: Optional[str] = None,
        binding_optional: bool = False,
        match_all: bool = False,
        min_revocation_seq: int = 0,
    ) -> None: ...
    def verify(
        self,
        token: str,
        fingerprint: Optional[str] = None,
        now: Now = None,
        state: Optional[State] = None,
    ) -> License:
        """``fingerprint`` None: this machine's. Raises ``ClientVerifierError``."""
    def verify_lease(
        self, token: str, fingerprint: Optional[str] = None, now: Now = None
    ) -> Lease: ...
    def load_revocations(self, token: str, state: Optional[State] = None) -> int: ...
    def load_key_revocations(self, statement: str, state: State) -> int: ...
    @property
    def revocation_seq(self) -> int: ...

class LeaseClient:
    """Leases a seat of a floating license from licd and renews it in the background until
    ``close()`` or the end of a ``with`` block."""

    def __init__(
        self,
        verifier: Verifier,
        server: str,
        license: str,
        instance: str,
        *,
        fingerprint: Optional[str] = None,
        ca_pem: Optional[str] = None,
        allow_plain_http: bool = False,
    ) -> None: ...
    @property
    def valid(self) -> bool: ...
    @property
    def state(self) -> Literal["leased", "renewing", "lost", "refused", "closed"]: ...
    @property
    def lease(self) -> Optional[Lease]: ...
    @property
    def token(self) -> Optional[str]: ...
    def close(self) -> None: ...
    def __enter__(self) -> "LeaseClient": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

def fingerprint() -> str:
    """This machine's fingerprint (``MAC|disk|board|CPU``)."""

def offline_request(token: str, state_dir: str, fingerprint: Optional[str] = None) -> str:
    """An activation request (``lor1.…``) for an air-gapped machine."""

def offline_receipt(state_dir: str) -> str:
    """A deactivation receipt (``ldr1.…``) giving back this machine's seat."""

__all__: List[str]
