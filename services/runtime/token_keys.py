"""The keys tokens are verified with: a JWKS from a file or an issuer's URL, reloaded when it
changes or names an unknown `kid`, the last good set kept when a reload fails.

`tokens.TokenVerifier` asks `KeySet.key(kid)`; rotation works because an issuer publishes the
new key beside the old one before signing with it. Keys without a `kid`, symmetric keys
(`kty: oct`) and encryption keys are ignored.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
import structlog

log = structlog.get_logger()

URL_TIMEOUT_S = 5.0
MAX_JWKS_BYTES = 1024 * 1024
# While no key set has ever loaded (the issuer was down at start), a token retries the load at
# most this often, or AUTH_JWKS_MIN_REFRESH_SECONDS if that is shorter.
UNLOADED_RETRY_S = 1.0

# Which algorithms a key of each type (and curve) can verify.
_OKP_ALGORITHMS = {"Ed25519": frozenset({"EdDSA"}), "Ed448": frozenset({"EdDSA"})}
_EC_ALGORITHMS = {"P-256": frozenset({"ES256"}), "P-384": frozenset({"ES384"}),
                  "P-521": frozenset({"ES512"}), "secp256k1": frozenset({"ES256K"})}
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


class KeySetError(RuntimeError):
    """A key source that cannot work at all (e.g. the JWKS file does not exist)."""


# --- Key sources -------------------------------------------------------------------------------

class KeySource(Protocol):
    description: str

    async def fetch(self) -> bytes:
        """The JWKS document; raises on any failure."""

    def changed(self) -> bool:
        """True if the source knows it changed since the last fetch (a file's size or time)."""

    async def close(self) -> None: ...


class FileKeySource:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"file {self.path}"
        self._fetched_stat: tuple[int, int, int] | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    async def fetch(self) -> bytes:
        stat = self._stat()
        try:
            data = await asyncio.to_thread(self.path.read_bytes)
        except FileNotFoundError:
            raise KeySetError(f"the JWKS file {self.path} (AUTH_JWKS_FILE) does not exist") from None
        self._fetched_stat = stat
        return data

    def changed(self) -> bool:
        return self._stat() != self._fetched_stat

    async def close(self) -> None:
        pass


class UrlKeySource:
    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.description = f"url {url.split('?', 1)[0]}"
        self._client = client or httpx.AsyncClient(
            timeout=URL_TIMEOUT_S, headers={"Accept": "application/json"})
        self._owns_client = client is None

    async def fetch(self) -> bytes:
        response = await self._client.get(self.url)
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
        return response.content

    def changed(self) -> bool:
        return False

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()


# --- The key set -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    jwk: dict[str, Any]
    algorithms: frozenset[str]  # what this key may verify
    pyjwks: dict[str, jwt.PyJWK]  # per algorithm, built on first use


def _key_algorithms(jwk: dict[str, Any]) -> frozenset[str]:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP":
        possible = _OKP_ALGORITHMS.get(crv, frozenset())
    elif kty == "EC":
        possible = _EC_ALGORITHMS.get(crv, frozenset())
    elif kty == "RSA":
        possible = _RSA_ALGORITHMS
    else:
        possible = frozenset()
    declared = jwk.get("alg")
    if declared is not None:
        return possible & {declared}
    return possible


def parse_jwks(document: bytes | str | dict[str, Any], source: str = "jwks") -> dict[str, _Key]:
    """The usable keys of a JWKS by `kid`; unusable ones are logged and left out."""
    data = json.loads(document) if isinstance(document, bytes | str) else document
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS is an object with a `keys` list")
    keys: dict[str, _Key] = {}
    for entry in data["keys"]:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        reason = None
        if not isinstance(entry, dict):
            reason = "not an object"
        elif not isinstance(kid, str) or not kid:
            reason = "no kid"
        elif entry.get("kty") == "oct":
            reason = "symmetric key (kty oct)"
        elif entry.get("use", "sig") != "sig":
            reason = f"not a signing key (use {entry.get('use')!r})"
        elif kid in keys:
            reason = "kid listed twice (the first one is kept)"
        if reason is None:
            algorithms = _key_algorithms(entry)
            if not algorithms:
                reason = f"unsupported key type or algorithm (kty {entry.get('kty')!r})"
            else:
                first = min(algorithms)
                try:
                    checked = jwt.PyJWK(entry, algorithm=first)  # parses the key material
                except (jwt.PyJWTError, ValueError, TypeError) as exc:
                    reason = f"invalid key: {type(exc).__name__}"
                else:
                    keys[kid] = _Key(kid, entry, algorithms, {first: checked})
        if reason is not None:
            log.warning("jwks_key_ignored", source=source,
                        kid=kid if isinstance(kid, str) else None, reason=reason)
    return keys


class KeySet:
    """The keys of one source, reloaded periodically and when a token names an unknown `kid`."""

    def __init__(self, source: KeySource, *, refresh_seconds: float = 300.0,
                 min_refresh_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._loaded_once = False
        self._loaded_at = -math.inf  # last successful load
        self._attempted_at = -math.inf  # last attempt, successful or not
        self._last_error: str | None = None
        self._lock = asyncio.Lock()
        self._background: asyncio.Task | None = None
        self._on_keys_dropped: list[Callable[[], None]] = []

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    @property
    def loaded(self) -> bool:
        return self._loaded_once

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def pending_refresh(self) -> asyncio.Task | None:
        """The background reload under way, if any."""
        if self._background is None or self._background.done():
            return None
        return self._background

    def on_keys_dropped(self, callback: Callable[[], None]) -> None:
        self._on_keys_dropped.append(callback)

    async def load(self) -> bool:
        """Fetch and replace the keys; on failure keep the last good ones. True if it loaded."""
        async with self._lock:
            return await self._load_locked()

    def retry_soon(self) -> None:
        """Let the next unknown `kid` reload at once (after a failed first load)."""
        self._attempted_at = -math.inf

    async def _load_locked(self) -> bool:
        self._attempted_at = self._clock()
        try:
            keys = parse_jwks(await self.source.fetch(), self.source.description)
        except Exception as exc:
            self._last_error = str(exc) if isinstance(exc, KeySetError) else (
                f"{type(exc).__name__}: {exc}")
            log.warning("jwks_load_failed", source=self.source.description,
                        error=self._last_error, keeping=list(self._keys))
            return False
        dropped = set(self._keys) - set(keys)
        previous = set(self._keys)
        self._keys, self._loaded_once = keys, True
        self._loaded_at, self._last_error = self._clock(), None
        if set(keys) != previous:
            log.info("jwks_loaded", source=self.source.description, kids=list(keys),
                     dropped=sorted(dropped))
        if not keys:
            log.warning("jwks_has_no_usable_key", source=self.source.description)
        if dropped:
            for callback in self._on_keys_dropped:
                callback()
        return True

    async def key(self, kid: str) -> _Key | None:
        """The key named `kid`, reloading first if it is unknown and a reload is allowed."""
        self.refresh_if_due()
        key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._reload_allowed():
            return None
        async with self._lock:
            if kid not in self._keys and self._reload_allowed():  # not loaded meanwhile
                await self._load_locked()
        return self._keys.get(kid)

    def _reload_allowed(self) -> bool:
        if self._loaded_once and self.source.changed():  # a file rewritten since it was read
            return True
        interval = self.min_refresh_seconds
        if not self._loaded_once:
            interval = min(interval, UNLOADED_RETRY_S)
        return self._clock() - self._attempted_at >= interval

    def refresh_if_due(self) -> None:
        """Start a background reload if the last attempt is AUTH_JWKS_REFRESH_SECONDS old."""
        if not self._loaded_once or self._clock() - self._attempted_at < self.refresh_seconds:
            return
        if self._background is not None and not self._background.done():
            return
        self._background = asyncio.create_task(self.load(), name="jwks-refresh")

    async def close(self) -> None:
        if self._background is not None and not self._background.done():
            self._background.cancel()
            try:
                await self._background
            except asyncio.CancelledError:
                pass
        await self.source.close()
