"""Bearer tokens: verified against the keys the deployment's issuer publishes as a JWKS.

`TokenVerifier.verify(token)` returns a token's claims (for `caller.Caller.from_claims`) or
raises `TokenRejected` with a short machine `reason` and a `detail` safe to show the caller.

- **Keys** come from a JWKS URL (an OpenID Connect issuer: Keycloak, Zitadel, ...) or a JWKS
  file (`thidua up` writes one). A token names its key in the header's `kid`; a `kid` the key
  set does not hold reloads it at once (at most once per `AUTH_JWKS_MIN_REFRESH_SECONDS`; a file
  whose size or modification time changed is always reloaded), and the set is reloaded in the
  background every `AUTH_JWKS_REFRESH_SECONDS`. That is how rotation works: the issuer
  publishes the new key beside the old one, then signs with it. A failed reload keeps the last
  good key set. Keys without a `kid`, symmetric keys (`kty: oct`) and encryption keys are
  ignored.
- **Algorithm pinned.** The header's `alg` must be one of `AUTH_ALGORITHMS` (asymmetric only,
  settings.py refuses others) and fit the key's type (an Ed25519 key verifies EdDSA, a P-256
  key ES256, an RSA key RS*/PS*; a key that declares its `alg` only that one); PyJWT is then
  given that single algorithm. So `alg: none` and HS256 signed with a public key as the HMAC
  secret are refused before any signature check.
- **Claims.** `exp`, `iss` (= `AUTH_ISSUER`), `aud` (holds `AUTH_AUDIENCE`) and `sub` are
  required; `nbf` and `iat` are checked when present; `AUTH_LEEWAY_SECONDS` of clock skew.
- **Cache.** Verifying costs a few hundred µs of CPU (EdDSA; RSA more): verified claims are kept
  (LRU, 10,000 tokens, keyed by the token's SHA-256) until the token expires, and expiry is
  checked again on every hit. A reload that drops a key empties the cache.

Nothing here logs a token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
import structlog

from services.runtime.settings import ServiceSettings

log = structlog.get_logger()

REASONS = frozenset({"malformed", "unknown_key", "algorithm_not_allowed", "bad_signature",
                     "expired", "not_yet_valid", "wrong_issuer", "wrong_audience",
                     "missing_claim"})
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
MAX_TOKEN_CHARS = 16 * 1024
CACHE_SIZE = 10_000
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


class TokenRejected(Exception):
    """A token this service does not accept. `reason` is one of `REASONS`; `detail` a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class KeysUnavailable(TokenRejected):
    """No key could be looked up: no issuer configured, or its key set could not be loaded.

    Still a `TokenRejected` (reason `unknown_key`), but the fault is this service's, not the
    token's: an HTTP layer may answer 503 rather than 401.
    """

    def __init__(self, detail: str) -> None:
        super().__init__("unknown_key", detail)


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


# --- The verifier ------------------------------------------------------------------------------

_MESSAGES = {
    "expired": "the token has expired",
    "not_yet_valid": "the token is not valid yet",
    "wrong_issuer": "the token was issued by another issuer",
    "wrong_audience": "the token is meant for another audience",
    "bad_signature": "the token's signature does not verify",
    "malformed": "the token is not a well-formed signed JWT",
}


class TokenVerifier:
    def __init__(self, keys: KeySet | None, *, issuer: str, audience: str,
                 algorithms: list[str], leeway_seconds: float = 30.0,
                 cache_size: int = CACHE_SIZE, wall_clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.leeway_seconds = leeway_seconds
        self._cache: OrderedDict[bytes, tuple[float, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self._wall_clock = wall_clock
        if keys is not None:
            keys.on_keys_dropped(self._cache.clear)

    @classmethod
    def from_settings(cls, settings: ServiceSettings, *,
                      http_client: httpx.AsyncClient | None = None,
                      clock: Callable[[], float] = time.monotonic,
                      wall_clock: Callable[[], float] = time.time) -> TokenVerifier:
        """`clock` paces key reloads, `wall_clock` (seconds since the epoch) checks the expiry of
        cached tokens; both are injectable for tests."""
        source: KeySource | None = None
        if settings.auth_jwks_url:
            source = UrlKeySource(settings.auth_jwks_url, http_client)
        elif settings.auth_jwks_file:
            source = FileKeySource(settings.auth_jwks_file)
        keys = None if source is None else KeySet(
            source, refresh_seconds=settings.auth_jwks_refresh_seconds,
            min_refresh_seconds=settings.auth_jwks_min_refresh_seconds, clock=clock)
        return cls(keys, issuer=settings.auth_issuer, audience=settings.auth_audience,
                   algorithms=settings.auth_algorithms,
                   leeway_seconds=settings.auth_leeway_seconds, wall_clock=wall_clock)

    @property
    def configured(self) -> bool:
        return self.keys is not None

    async def start(self) -> None:
        """Load the keys once. An unreachable URL is logged and retried when a token comes; a
        JWKS file that does not exist raises `KeySetError`."""
        if self.keys is None:
            log.warning("token_issuer_not_configured",
                        hint="set AUTH_JWKS_URL or AUTH_JWKS_FILE; no token can be verified")
            return
        if await self.keys.load():
            log.info("token_verifier_started", source=self.keys.source.description,
                     kids=self.keys.kids, issuer=self.issuer, audience=self.audience)
        elif isinstance(self.keys.source, FileKeySource):  # a local file: a deployment mistake
            raise KeySetError(f"cannot load the token keys: {self.keys.last_error}")
        else:  # the issuer may be briefly down: the first token retries at once
            log.warning("token_keys_not_loaded_yet", source=self.keys.source.description,
                        error=self.keys.last_error)
            self.keys.retry_soon()

    async def close(self) -> None:
        if self.keys is not None:
            await self.keys.close()
        self._cache.clear()

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or `TokenRejected`."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("malformed", _MESSAGES["malformed"])
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        cached = self._cache.get(digest)
        if cached is not None:
            expires, claims = cached
            if expires <= self._wall_clock() - self.leeway_seconds:
                self._cache.pop(digest, None)
                raise TokenRejected("expired", _MESSAGES["expired"])
            self._cache.move_to_end(digest)
            if self.keys is not None:  # so a key the issuer withdrew is dropped all the same
                self.keys.refresh_if_due()
            return dict(claims)
        claims = await self._verify_uncached(token)
        self._cache[digest] = (float(claims["exp"]), claims)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return dict(claims)

    async def _verify_uncached(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("malformed", _MESSAGES["malformed"]) from None
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("malformed", "the token's header names no key (`kid`)")
        if alg not in self.algorithms:
            raise TokenRejected("algorithm_not_allowed", "the token's signature algorithm is not "
                                f"accepted (accepted: {', '.join(self.algorithms)})")
        if self.keys is None:
            raise KeysUnavailable("this service has no token issuer configured")
        key = await self.keys.key(kid)
        if key is None:
            if not self.keys.loaded:
                raise KeysUnavailable("the token issuer's keys could not be loaded; try again "
                                      "shortly")
            if self.keys.last_error is not None:
                raise KeysUnavailable("the token names a key this service does not know, and "
                                      "the issuer's keys could not be reloaded; try again shortly")
            raise TokenRejected("unknown_key", "the token was signed with a key this service "
                                "does not know")
        if alg not in key.algorithms:
            raise TokenRejected("algorithm_not_allowed", "the token's signature algorithm does "
                                "not fit the key it names")
        pyjwk = key.pyjwks.get(alg)
        if pyjwk is None:
            pyjwk = key.pyjwks.setdefault(alg, jwt.PyJWK(key.jwk, algorithm=alg))
        try:
            claims = jwt.decode(
                token, key=pyjwk, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS), "verify_signature": True})
        except jwt.PyJWTError as exc:
            raise _rejection(exc) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRejected("missing_claim", "the token lacks the `sub` claim")
        return claims


def _rejection(exc: jwt.PyJWTError) -> TokenRejected:
    # Subclasses before their bases: InvalidSignatureError is a DecodeError.
    if isinstance(exc, jwt.ExpiredSignatureError):
        return TokenRejected("expired", _MESSAGES["expired"])
    if isinstance(exc, jwt.ImmatureSignatureError):
        return TokenRejected("not_yet_valid", _MESSAGES["not_yet_valid"])
    if isinstance(exc, jwt.InvalidIssuerError):
        return TokenRejected("wrong_issuer", _MESSAGES["wrong_issuer"])
    if isinstance(exc, jwt.InvalidAudienceError):
        return TokenRejected("wrong_audience", _MESSAGES["wrong_audience"])
    if isinstance(exc, jwt.MissingRequiredClaimError):
        claim = exc.claim if exc.claim in REQUIRED_CLAIMS else "a required"
        return TokenRejected("missing_claim", f"the token lacks the `{claim}` claim")
    if isinstance(exc, jwt.InvalidSignatureError):
        return TokenRejected("bad_signature", _MESSAGES["bad_signature"])
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return TokenRejected("algorithm_not_allowed", "the token's signature algorithm is not "
                             "accepted")
    return TokenRejected("malformed", _MESSAGES["malformed"])
