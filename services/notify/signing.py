"""Standard Webhooks signatures (https://www.standardwebhooks.com): what notify sends and what
an integrator checks.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is
HMAC-SHA256 keyed with the secret's bytes (the base64 after `whsec_`), base64-encoded and
prefixed `v1,`. Several signatures, separated by spaces, travel in `webhook-signature` while an
old secret overlaps a new one; a receiver accepts the message if any of them verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

PREFIX = "whsec_"
TOLERANCE_S = 5 * 60


class VerificationFailed(ValueError):
    """The message was not signed with the secret, was altered, or is too old or too new."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
        "content-type": "application/json",
    }


def verify(secret: str, body: bytes, headers: dict[str, str], *, now: float | None = None,
           tolerance_s: int = TOLERANCE_S) -> None:
    """What a receiver does with only the shared secret; raises `VerificationFailed`."""
    h = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, stamp, signatures = (h["webhook-id"], h["webhook-timestamp"],
                                     h["webhook-signature"])
        timestamp = int(stamp)
    except (KeyError, ValueError):
        raise VerificationFailed("missing or malformed webhook headers") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        raise VerificationFailed("timestamp outside the tolerance (a replayed message?)")
    expected = sign(secret, msg_id, timestamp, body).removeprefix("v1,")
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise VerificationFailed("no signature matches")
