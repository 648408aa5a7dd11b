"""The local stack's token issuer: what an OpenID Connect provider is to a deployment.

It keeps Ed25519 signing keys in a directory (`identity_dir()`: `$THIDUA_IDENTITY_DIR`, else
`./.thidua/identity`):

    jwks.json          the public keys, oldest first; the last one signs (what services read)
    keys/<kid>.pem     each private key, mode 0600

`thidua up` points every service at `jwks.json` (`service_environment()`), and
`thidua token mint` signs tokens the services accept. `rotate()` adds a key and signs with it;
the previous keys stay in `jwks.json` (at most `MAX_KEYS`), so tokens signed before a rotation
verify until they expire, as they would with a real issuer.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from services.runtime.caller import MEMBER_CLAIM, ROLE_CLAIM, UNIT_CLAIM, Caller

DEFAULT_ISSUER = "thidua-local"
DEFAULT_AUDIENCE = "thidua"
MAX_KEYS = 3
ALGORITHM = "EdDSA"


def identity_dir() -> Path:
    """`$THIDUA_IDENTITY_DIR`, else `.thidua/identity` under the current directory."""
    configured = os.environ.get("THIDUA_IDENTITY_DIR")
    return Path(configured) if configured else Path.cwd() / ".thidua" / "identity"


class LocalIssuer:
    def __init__(self, directory: Path, issuer: str = DEFAULT_ISSUER) -> None:
        self.directory = Path(directory)
        self.issuer = issuer

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    @property
    def keys_dir(self) -> Path:
        return self.directory / "keys"

    def jwks(self) -> dict[str, Any]:
        """The public key set as services read it (`{"keys": []}` before the first key)."""
        try:
            return json.loads(self.jwks_path.read_text())
        except FileNotFoundError:
            return {"keys": []}

    @property
    def kids(self) -> list[str]:
        """The published keys' ids, oldest first; the last one signs."""
        return [key["kid"] for key in self.jwks()["keys"]]

    def ensure_keys(self) -> None:
        """Create a signing key unless one exists (with its private half)."""
        kids = self.kids
        if not kids or not self._private_path(kids[-1]).exists():
            self.rotate()

    def rotate(self) -> str:
        """A new signing key, published beside the previous ones; returns its `kid`."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.keys_dir.mkdir(exist_ok=True, mode=0o700)
        kid = f"local-{datetime.now(UTC):%Y-%m-%d}-{secrets.token_hex(2)}"
        while self._private_path(kid).exists():
            kid = f"local-{datetime.now(UTC):%Y-%m-%d}-{secrets.token_hex(2)}"
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        descriptor = os.open(self._private_path(kid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        public = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
        keys = [*self.jwks()["keys"], {**public, "kid": kid, "alg": ALGORITHM, "use": "sig"}]
        dropped, keys = keys[:-MAX_KEYS], keys[-MAX_KEYS:]
        self._write_jwks({"keys": keys})
        for old in dropped:
            self._private_path(old["kid"]).unlink(missing_ok=True)
        return kid

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        """The newest key's id and private key."""
        kids = self.kids
        if not kids:
            raise FileNotFoundError(f"no signing key in {self.directory}; call ensure_keys()")
        key = serialization.load_pem_private_key(self._private_path(kids[-1]).read_bytes(), None)
        assert isinstance(key, Ed25519PrivateKey)
        return kids[-1], key

    def mint(self, *, role: str, unit: str | None = None, member: str | None = None,
             subject: str | None = None, name: str | None = None,
             audience: str | list[str] = DEFAULT_AUDIENCE, ttl_seconds: int = 3600,
             now: datetime | None = None, extra: dict[str, Any] | None = None) -> str:
        """A signed token for `role`; `ClaimsRefused` (a ValueError) if it would not describe
        a caller, e.g. an official without a unit."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        issued = int((now or datetime.now(UTC)).timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": audience,
            "sub": subject or f"local:{role}:{unit or member or 'city'}",
            "iat": issued, "nbf": issued, "exp": issued + ttl_seconds,
            ROLE_CLAIM: role,
        }
        for claim, value in ((UNIT_CLAIM, unit), (MEMBER_CLAIM, member), ("name", name)):
            if value is not None:
                claims[claim] = value
        claims.update(extra or {})
        Caller.from_claims(claims)  # the same checks a service makes
        kid, key = self.signing_key()
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})

    def service_environment(self) -> dict[str, str]:
        """What a service needs to accept this issuer's tokens."""
        return {"AUTH_JWKS_FILE": str(self.jwks_path.resolve()), "AUTH_ISSUER": self.issuer,
                "AUTH_AUDIENCE": DEFAULT_AUDIENCE}

    def _private_path(self, kid: str) -> Path:
        return self.keys_dir / f"{kid}.pem"

    def _write_jwks(self, jwks: dict[str, Any]) -> None:
        # Replaced in one step: a service reloading meanwhile reads the old set or the new one.
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".jwks-", suffix=".json")
        with os.fdopen(descriptor, "w") as file:
            json.dump(jwks, file, indent=2)
            file.write("\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, self.jwks_path)
