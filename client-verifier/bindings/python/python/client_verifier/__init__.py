"""Offline verification of licd license tokens.

A licd license is a PASETO v4.public token signed by the ISV's key. ``Verifier`` checks a
token's signature, issuer, product, validity, freeze window, device binding, revocation and
clock rollback with no network; ``License`` is what it read. See README.md beside this
package, and the stubs (``__init__.pyi``) for every signature.
"""

from ._native import (
    ClientVerifierError,
    Lease,
    LeaseClient,
    License,
    State,
    Verifier,
    fingerprint,
    offline_receipt,
    offline_request,
)

__all__ = [
    "ClientVerifierError",
    "Lease",
    "LeaseClient",
    "License",
    "State",
    "Verifier",
    "fingerprint",
    "offline_receipt",
    "offline_request",
]
