"""Bearer tokens: the local issuer's tokens verify, and every kind of bad token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import ValidationError
from structlog.testing import capture_logs

from services.devstack.identity import LocalIssuer, identity_dir
from services.runtime.caller import Caller, ClaimsRefused, Role
from services.runtime.settings import ServiceSettings
from services.runtime.token_keys import FileKeySource, KeySet, KeySetError, parse_jwks
from services.runtime.tokens import KeysUnavailable, TokenRejected, TokenVerifier


@pytest.fixture
def issuer(tmp_path) -> LocalIssuer:
    issuer = LocalIssuer(tmp_path / "identity")
    issuer.ensure_keys()
    return issuer


def settings_for(issuer: LocalIssuer, **overrides) -> ServiceSettings:
    return ServiceSettings(**{"auth_jwks_file": str(issuer.jwks_path), **overrides})


@pytest.fixture
async def verifier(issuer):
    verifier = TokenVerifier.from_settings(settings_for(issuer))
    await verifier.start()
    yield verifier
    await verifier.close()


def claims(**overrides) -> dict:
    now = int(datetime.now(UTC).timestamp())
    return {"iss": "thidua-local", "aud": "thidua", "sub": "local:city_admin:city", "iat": now,
            "nbf": now, "exp": now + 600, "thidua_role": "city_admin", **overrides}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def rejection(verifier: TokenVerifier, token: str) -> TokenRejected:
    with pytest.raises(TokenRejected) as refused:
        await verifier.verify(token)
    assert len(token) < 8 or token not in str(refused.value)  # never echoed
    return refused.value


# --- Tokens that verify ------------------------------------------------------------------------

async def test_a_minted_token_verifies_and_describes_its_caller(issuer, verifier):
    token = issuer.mint(role="grassroots_official", unit="cd-hanoi-001", name="Nguyễn Thị Lan")
    verified = await verifier.verify(token)
    assert (verified["iss"], verified["aud"], verified["sub"]) == (
        "thidua-local", "thidua", "local:grassroots_official:cd-hanoi-001")
    assert verified["exp"] - verified["iat"] == 3600
    caller = Caller.from_claims(verified)
    assert (caller.role, caller.unit_id, caller.name) == (
        Role.GRASSROOTS_OFFICIAL, "cd-hanoi-001", "Nguyễn Thị Lan")
    assert jwt.get_unverified_header(token)["kid"] == issuer.kids[-1]
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"


async def test_a_member_token_and_an_audience_list_holding_ours(issuer, verifier):
    token = issuer.mint(role="member", member="m-42", audience=["other", "thidua"])
    verified = await verifier.verify(token)
    assert Caller.from_claims(verified).member_id == "m-42"


async def test_a_token_expired_within_the_leeway_still_verifies(issuer, verifier):
    token = issuer.mint(role="auditor", ttl_seconds=60,
                        now=datetime.now(UTC) - timedelta(seconds=65))  # 5 s past, leeway 30
    assert (await verifier.verify(token))["thidua_role"] == "auditor"


# --- Tokens refused ----------------------------------------------------------------------------

async def test_an_expired_token_is_refused(issuer, verifier):
    token = issuer.mint(role="auditor", ttl_seconds=3600,
                        now=datetime.now(UTC) - timedelta(hours=2))
    assert (await rejection(verifier, token)).reason == "expired"


async def test_a_token_not_valid_yet_is_refused(issuer, verifier):
    in_an_hour = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    token = issuer.mint(role="auditor", extra={"nbf": in_an_hour})
    assert (await rejection(verifier, token)).reason == "not_yet_valid"
    issued_later = issuer.mint(role="auditor", now=datetime.now(UTC) + timedelta(hours=1))
    assert (await rejection(verifier, issued_later)).reason == "not_yet_valid"


async def test_another_issuer_is_refused(issuer, verifier):
    token = LocalIssuer(issuer.directory, issuer="https://evil.example").mint(role="city_admin")
    assert (await rejection(verifier, token)).reason == "wrong_issuer"


async def test_another_audience_is_refused(issuer, verifier):
    token = issuer.mint(role="city_admin", audience="thidua-billing")
    assert (await rejection(verifier, token)).reason == "wrong_audience"


async def test_a_tampered_payload_breaks_the_signature(issuer, verifier):
    header, payload, signature = issuer.mint(role="member", member="m-1").split(".")
    middle = len(payload) // 2
    flipped = "B" if payload[middle] == "A" else "A"
    tampered = f"{header}.{payload[:middle]}{flipped}{payload[middle + 1:]}.{signature}"
    assert (await rejection(verifier, tampered)).reason == "bad_signature"
    # The same goes for a payload swapped for one that says something else.
    forged = f"{header}.{b64(claims(thidua_role='city_admin'))}.{signature}"
    assert (await rejection(verifier, forged)).reason == "bad_signature"


async def test_alg_none_is_refused(issuer, verifier):
    unsigned = f"{b64({'alg': 'none', 'kid': issuer.kids[-1], 'typ': 'JWT'})}.{b64(claims())}."
    assert (await rejection(verifier, unsigned)).reason == "algorithm_not_allowed"


async def test_hs256_signed_with_the_public_key_is_refused(issuer, verifier):
    """The classic confusion: HMAC keyed with the verifier's public key, which anyone has."""
    kid = issuer.kids[-1]
    public_jwk = next(key for key in issuer.jwks()["keys"] if key["kid"] == kid)
    _, private = issuer.signing_key()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_raw = base64.urlsafe_b64decode(public_jwk["x"] + "==")
    for secret in (public_pem, public_raw, json.dumps(public_jwk).encode()):
        signing_input = f"{b64({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'})}.{b64(claims())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        assert (await rejection(verifier, token)).reason == "algorithm_not_allowed"


async def test_an_allowed_algorithm_that_does_not_fit_the_key_is_refused(issuer, verifier):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": issuer.kids[-1]})
    assert (await rejection(verifier, token)).reason == "algorithm_not_allowed"


async def test_an_unknown_kid_is_refused(issuer, verifier):
    _, key = issuer.signing_key()
    token = jwt.encode(claims(), key, algorithm="EdDSA", headers={"kid": "local-1999-01-01-0000"})
    refused = await rejection(verifier, token)
    assert refused.reason == "unknown_key"
    assert not isinstance(refused, KeysUnavailable)  # the keys are there: the token is at fault


async def test_a_token_without_kid_is_malformed(issuer, verifier):
    _, key = issuer.signing_key()
    refused = await rejection(verifier, jwt.encode(claims(), key, algorithm="EdDSA"))
    assert (refused.reason, refused.detail) == ("malformed",
                                                "the token's header names no key (`kid`)")


@pytest.mark.parametrize("garbage", ["garbage", "", "a.b.c", "...", "x" * 20_000,
                                     f"{b64({'alg': 'EdDSA'})}.not-base64!.sig"])
async def test_garbage_is_malformed(verifier, garbage):
    assert (await rejection(verifier, garbage)).reason == "malformed"


async def test_another_issuers_key_under_the_same_kid_is_refused(issuer, verifier, tmp_path):
    impostor = LocalIssuer(tmp_path / "impostor")
    impostor.ensure_keys()
    _, their_key = impostor.signing_key()
    token = jwt.encode(claims(), their_key, algorithm="EdDSA", headers={"kid": issuer.kids[-1]})
    assert (await rejection(verifier, token)).reason == "bad_signature"


@pytest.mark.parametrize("missing", ["exp", "iss", "aud", "sub"])
async def test_a_required_claim_missing_is_refused(issuer, verifier, missing):
    kid, key = issuer.signing_key()
    incomplete = {name: value for name, value in claims().items() if name != missing}
    token = jwt.encode(incomplete, key, algorithm="EdDSA", headers={"kid": kid})
    refused = await rejection(verifier, token)
    assert refused.reason == "missing_claim"
    assert f"`{missing}`" in refused.detail


async def test_an_empty_subject_is_a_missing_claim(issuer, verifier):
    kid, key = issuer.signing_key()
    token = jwt.encode(claims(sub=""), key, algorithm="EdDSA", headers={"kid": kid})
    assert (await rejection(verifier, token)).reason == "missing_claim"


# --- Other key types ---------------------------------------------------------------------------

async def test_rs256_and_es256_keys_in_a_jwks_verify(tmp_path):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = [{**RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "rsa-1"},
            {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "ec-1",
             "alg": "ES256", "use": "sig"}]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    verifier = TokenVerifier.from_settings(ServiceSettings(
        auth_jwks_file=str(path), auth_issuer="https://kc.example/realms/thidua"))
    await verifier.start()
    payload = claims(iss="https://kc.example/realms/thidua")
    rs256 = jwt.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    es256 = jwt.encode(payload, ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier.verify(rs256))["sub"] == payload["sub"]
    assert (await verifier.verify(es256))["sub"] == payload["sub"]
    # An RSA key without `alg` verifies the RSA algorithms allowed, and only those.
    rs384 = jwt.encode(payload, rsa_key, algorithm="RS384", headers={"kid": "rsa-1"})
    assert (await rejection(verifier, rs384)).reason == "algorithm_not_allowed"
    # A key that declares ES256 verifies nothing else, even another ES algorithm allowed.
    wide = TokenVerifier.from_settings(ServiceSettings(
        auth_jwks_file=str(path), auth_issuer="https://kc.example/realms/thidua",
        auth_algorithms=["RS256", "RS384", "ES256", "ES384"]))
    assert (await wide.verify(rs384))["sub"] == payload["sub"]
    await verifier.close()
    await wide.close()


def test_keys_without_kid_symmetric_or_for_encryption_are_ignored_with_a_log_line():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    public = ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)
    document = {"keys": [
        public,  # no kid
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {**public, "kid": "enc", "use": "enc"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "x"},
        {"kty": "EC", "crv": "P-192", "kid": "odd-curve", "x": "AA", "y": "AA"},
        {**public, "kid": "good"},
    ]}
    with capture_logs() as logs:
        keys = parse_jwks(json.dumps(document), "test")
    assert list(keys) == ["good"]
    ignored = {(entry["kid"], entry["reason"].split(" ")[0]) for entry in logs
               if entry["event"] == "jwks_key_ignored"}
    assert ignored == {(None, "no"), ("hmac", "symmetric"), ("enc", "not"), ("broken", "invalid"),
                       ("odd-curve", "unsupported")}


# --- Rotation and reloads ----------------------------------------------------------------------

async def test_after_rotation_old_and_new_tokens_verify(issuer, verifier):
    old_kid = issuer.kids[-1]
    before = issuer.mint(role="auditor")
    assert await verifier.verify(before)
    signed_before_but_first_seen_after = issuer.mint(role="auditor", subject="late")
    new_kid = issuer.rotate()
    assert issuer.kids == [old_kid, new_kid]
    after = issuer.mint(role="auditor")
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    with capture_logs() as logs:
        assert (await verifier.verify(after))["sub"] == "local:auditor:city"  # file reloaded
    assert [entry["kids"] for entry in logs if entry["event"] == "jwks_loaded"] == [
        [old_kid, new_kid]]
    assert (await verifier.verify(signed_before_but_first_seen_after))["sub"] == "late"


async def test_at_most_three_keys_are_kept_and_a_dropped_key_stops_verifying(issuer, verifier):
    first = issuer.mint(role="auditor")
    assert await verifier.verify(first)  # now cached
    for _ in range(3):
        issuer.rotate()
    assert len(issuer.kids) == 3
    assert sorted(p.stem for p in issuer.keys_dir.iterdir()) == sorted(issuer.kids)
    assert await verifier.verify(issuer.mint(role="auditor"))  # reloads: the first key is gone
    assert (await rejection(verifier, first)).reason == "unknown_key"  # the cache was emptied


async def test_an_unchanged_file_is_not_read_again_for_unknown_kids(issuer, verifier):
    _, key = issuer.signing_key()
    with capture_logs() as logs:
        for n in range(5):
            token = jwt.encode(claims(), key, algorithm="EdDSA", headers={"kid": f"nope-{n}"})
            assert (await rejection(verifier, token)).reason == "unknown_key"
    assert not [entry for entry in logs if entry["event"].startswith("jwks_")]


# --- The cache ---------------------------------------------------------------------------------

async def test_a_repeated_token_skips_the_signature_check(issuer, verifier, monkeypatch):
    token = issuer.mint(role="city_admin")
    first = await verifier.verify(token)
    checks = []
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: checks.append(1))
    assert await verifier.verify(token) == first
    assert checks == []
    first["thidua_role"] = "changed by a caller"  # a copy: the cache is not affected
    assert (await verifier.verify(token))["thidua_role"] == "city_admin"


async def test_a_cached_token_expires_on_time(issuer):
    now = [datetime.now(UTC).timestamp()]
    verifier = TokenVerifier.from_settings(settings_for(issuer), wall_clock=lambda: now[0])
    await verifier.start()
    token = issuer.mint(role="city_admin", ttl_seconds=120)
    expires = (await verifier.verify(token))["exp"]
    now[0] = expires + 29  # within the leeway
    assert await verifier.verify(token)
    now[0] = expires + 31
    assert (await rejection(verifier, token)).reason == "expired"
    await verifier.close()


async def test_the_cache_is_bounded(issuer):
    verifier = TokenVerifier(KeySet(FileKeySource(issuer.jwks_path)), issuer="thidua-local",
                             audience="thidua", algorithms=["EdDSA"], cache_size=2)
    tokens = [issuer.mint(role="member", member=f"m-{n}") for n in range(3)]
    for token in tokens:
        await verifier.verify(token)
    assert len(verifier._cache) == 2
    await verifier.close()


# --- Configuration -----------------------------------------------------------------------------

async def test_without_a_key_source_nothing_verifies(issuer):
    verifier = TokenVerifier.from_settings(ServiceSettings())
    assert not verifier.configured
    await verifier.start()  # logs, does not fail
    refused = await rejection(verifier, issuer.mint(role="city_admin"))
    assert isinstance(refused, KeysUnavailable) and refused.reason == "unknown_key"


async def test_a_missing_jwks_file_fails_the_start_clearly(tmp_path):
    missing = tmp_path / "nowhere" / "jwks.json"
    verifier = TokenVerifier.from_settings(ServiceSettings(auth_jwks_file=str(missing)))
    assert verifier.configured
    with pytest.raises(KeySetError, match=f"{missing}.*does not exist"):
        await verifier.start()
    await verifier.close()


async def test_a_verifier_not_started_loads_on_the_first_token(issuer):
    verifier = TokenVerifier.from_settings(settings_for(issuer))
    assert await verifier.verify(issuer.mint(role="auditor"))
    await verifier.close()


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["EdDSA", "HS512"]])
def test_symmetric_algorithms_cannot_be_configured(algorithms):
    with pytest.raises(ValidationError, match="asymmetric"):
        ServiceSettings(auth_algorithms=algorithms)


async def test_a_configured_algorithm_list_narrows_what_verifies(issuer):
    verifier = TokenVerifier.from_settings(settings_for(issuer, auth_algorithms=["RS256"]))
    refused = await rejection(verifier, issuer.mint(role="auditor"))
    assert refused.reason == "algorithm_not_allowed"
    await verifier.close()


# --- The local issuer --------------------------------------------------------------------------

def test_the_issuer_keeps_private_keys_private_and_publishes_only_public_ones(issuer):
    (pem,) = issuer.keys_dir.iterdir()
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE(issuer.keys_dir.stat().st_mode) == 0o700
    (key,) = issuer.jwks()["keys"]
    assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}  # no "d"
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert key["kid"].startswith(f"local-{datetime.now(UTC):%Y-%m}")


def test_ensure_keys_creates_a_key_once(issuer):
    kids = issuer.kids
    issuer.ensure_keys()
    assert issuer.kids == kids


@pytest.mark.parametrize(("arguments", "message"), [
    ({"role": "mayor"}, "must be one of"),
    ({"role": "grassroots_official"}, "names its unit"),
    ({"role": "member"}, "names the member"),
    ({"role": "integrator", "unit": "x" * 65}, "1 to 64 characters"),
])
def test_minting_a_token_no_service_would_accept_fails_loudly(issuer, arguments, message):
    with pytest.raises(ClaimsRefused, match=message):
        issuer.mint(**arguments)


def test_the_issuer_tells_services_where_its_keys_are(issuer):
    assert issuer.service_environment() == {
        "AUTH_JWKS_FILE": str(issuer.jwks_path.resolve()), "AUTH_ISSUER": "thidua-local",
        "AUTH_AUDIENCE": "thidua"}
    settings = ServiceSettings(**{k.lower(): v for k, v in issuer.service_environment().items()})
    assert settings.auth_jwks_file == str(issuer.jwks_path.resolve())


def test_the_identity_directory_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("THIDUA_IDENTITY_DIR", str(tmp_path / "ids"))
    assert identity_dir() == tmp_path / "ids"
    monkeypatch.delenv("THIDUA_IDENTITY_DIR")
    assert identity_dir() == type(identity_dir())(os.getcwd()) / ".thidua" / "identity"
