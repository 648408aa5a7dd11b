"""Tokens for tests: one local issuer per test session, as `thidua up` has one per stack.

Services under test verify against its JWKS file (`auth_settings`); tests mint a token per role
they play (`bearer`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from services.devstack.identity import DEFAULT_AUDIENCE, LocalIssuer

ISSUER = LocalIssuer(Path(tempfile.mkdtemp(prefix="thidua-test-identity-")))
ISSUER.ensure_keys()


# Tokens are minted when the test modules are imported, at the session's start, and used until
# its end: a day, not the issuer's default hour, which a run on a slow machine can outlast.
TEST_TOKEN_TTL_S = 24 * 3600


def mint(role: str, **claims) -> str:
    return ISSUER.mint(role=role, **({"ttl_seconds": TEST_TOKEN_TTL_S} | claims))


def bearer(role: str, **claims) -> dict[str, str]:
    """`Authorization` header of a fresh token for `role` (with `unit=` or `member=`)."""
    return {"Authorization": f"Bearer {mint(role, **claims)}"}


ADMIN = bearer("city_admin", subject="test:city-admin")


def auth_settings() -> dict[str, str]:
    return {"auth_jwks_file": str(ISSUER.jwks_path), "auth_issuer": ISSUER.issuer,
            "auth_audience": DEFAULT_AUDIENCE}
