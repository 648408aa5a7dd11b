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

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import structlog

from services.runtime.settings import ServiceSettings
from services.runtime.token_keys import FileKeySource, KeySet, KeySetError, KeySource, UrlKeySource

log = structlog.get_logger()

REASONS = frozenset({"malformed", "unknown_key", "algorithm_not_allowed", "bad_signature",
                     "expired", "not_yet_valid", "wrong_issuer", "wrong_audience",
                     "missing_claim"})
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
MAX_TOKEN_CHARS = 16 * 1024
CACHE_SIZE = 10_000
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
