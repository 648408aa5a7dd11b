"""A JWKS URL served by a real HTTP server on 127.0.0.1: rotation, refresh, an issuer that is down."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.devstack.identity import LocalIssuer
from services.runtime.settings import ServiceSettings
from services.runtime.tokens import KeysUnavailable, TokenRejected, TokenVerifier
from tests.support.ports import free_port


class JwksServer:
    """Serves `document` at /certs with `status`; counts the requests."""

    def __init__(self, port: int = 0) -> None:
        self.document: dict = {"keys": []}
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = json.dumps(server.document).encode() if server.status == 200 else b"down"
                self.send_response(server.status if self.path == "/certs" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/certs"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer(tmp_path) -> LocalIssuer:
    issuer = LocalIssuer(tmp_path / "identity")
    issuer.ensure_keys()
    return issuer


@pytest.fixture
def server(issuer):
    server = JwksServer()
    server.document = issuer.jwks()
    yield server
    server.stop()


def verifier_for(url: str, clock: Clock, **overrides) -> TokenVerifier:
    return TokenVerifier.from_settings(ServiceSettings(auth_jwks_url=url, **overrides), clock=clock)


async def test_tokens_verify_against_the_keys_the_url_serves(issuer, server):
    verifier = verifier_for(server.url, Clock())
    await verifier.start()
    assert (await verifier.verify(issuer.mint(role="auditor")))["thidua_role"] == "auditor"
    assert server.requests == 1
    await verifier.close()


async def test_an_unknown_kid_reloads_the_url_and_finds_the_rotated_key(issuer, server):
    clock = Clock()
    verifier = verifier_for(server.url, clock)
    await verifier.start()
    old_token = issuer.mint(role="auditor", subject="old")
    old_key_first_seen_later = issuer.mint(role="auditor", subject="old-key-too")
    issuer.rotate()
    new_token = issuer.mint(role="auditor", subject="new")
    assert (await verifier.verify(old_token))["sub"] == "old"
    clock.now += 30  # AUTH_JWKS_MIN_REFRESH_SECONDS since the start
    assert (await rejection(verifier, new_token)).reason == "unknown_key"  # not published yet
    assert server.requests == 2
    server.document = issuer.jwks()  # the issuer publishes the new key beside the old one
    clock.now += 30
    assert (await verifier.verify(new_token))["sub"] == "new"
    assert server.requests == 3
    assert (await verifier.verify(old_key_first_seen_later))["sub"] == "old-key-too"
    assert server.requests == 3
    await verifier.close()


async def test_unknown_kids_reload_at_most_once_per_min_refresh_interval(issuer, server):
    clock = Clock()
    verifier = verifier_for(server.url, clock)
    await verifier.start()
    issuer.rotate()
    server.document = issuer.jwks()
    token = issuer.mint(role="auditor")
    clock.now += 29
    assert (await rejection(verifier, token)).reason == "unknown_key"  # too soon after start
    assert server.requests == 1
    clock.now += 1
    assert await verifier.verify(token)
    assert server.requests == 2
    await verifier.close()


async def test_the_key_set_is_refreshed_in_the_background(issuer, server):
    clock = Clock()
    verifier = verifier_for(server.url, clock)
    await verifier.start()
    token = issuer.mint(role="auditor")
    another = issuer.mint(role="auditor", subject="another")
    issuer.rotate()
    server.document = issuer.jwks()
    assert await verifier.verify(token)
    assert verifier.keys.pending_refresh is None
    clock.now += 300  # AUTH_JWKS_REFRESH_SECONDS
    # A token not in the cache looks its key up: served from the current keys meanwhile.
    assert await verifier.verify(another)
    await verifier.keys.pending_refresh
    assert server.requests == 2
    assert verifier.keys.kids == issuer.kids
    await verifier.close()


async def test_a_failed_refresh_keeps_the_last_good_keys(issuer, server):
    clock = Clock()
    verifier = verifier_for(server.url, clock)
    await verifier.start()
    server.status = 503
    clock.now += 300
    token = issuer.mint(role="auditor")
    assert await verifier.verify(token)
    await verifier.keys.pending_refresh
    assert verifier.keys.last_error is not None and "503" in verifier.keys.last_error
    assert await verifier.verify(issuer.mint(role="auditor", subject="after the failure"))
    # A kid it cannot look up now is the issuer's fault as much as the token's.
    issuer.rotate()
    clock.now += 30
    refused = await rejection(verifier, issuer.mint(role="auditor"))
    assert isinstance(refused, KeysUnavailable)
    await verifier.close()


async def test_a_service_starts_while_the_issuer_is_down_and_verifies_once_it_is_up(issuer):
    port = free_port()
    clock = Clock()
    verifier = verifier_for(f"http://127.0.0.1:{port}/certs", clock)
    await verifier.start()  # logged, not raised
    assert verifier.configured and not verifier.keys.loaded
    token = issuer.mint(role="auditor")
    refused = await rejection(verifier, token)  # the first token retries at once, still down
    assert isinstance(refused, KeysUnavailable)
    server = JwksServer(port)
    try:
        server.document = issuer.jwks()
        clock.now += 1
        assert (await verifier.verify(token))["thidua_role"] == "auditor"
        assert server.requests == 1
    finally:
        server.stop()
        await verifier.close()


async def test_the_first_token_after_a_failed_start_retries_at_once(issuer):
    port = free_port()
    verifier = verifier_for(f"http://127.0.0.1:{port}/certs", Clock())
    await verifier.start()
    server = JwksServer(port)
    try:
        server.document = issuer.jwks()
        assert await verifier.verify(issuer.mint(role="auditor"))  # no clock advanced
    finally:
        server.stop()
        await verifier.close()


async def rejection(verifier: TokenVerifier, token: str) -> TokenRejected:
    with pytest.raises(TokenRejected) as refused:
        await verifier.verify(token)
    return refused.value


async def test_a_key_the_issuer_withdrew_stops_verifying_even_for_cached_tokens(issuer, server):
    clock = Clock()
    verifier = verifier_for(server.url, clock)
    await verifier.start()
    token = issuer.mint(role="auditor")
    assert await verifier.verify(token)  # cached from now on
    for _ in range(3):
        issuer.rotate()  # the first key falls out of the three kept
    server.document = issuer.jwks()
    clock.now += 300
    assert await verifier.verify(token)  # a cache hit, which starts the due reload
    await verifier.keys.pending_refresh
    assert (await rejection(verifier, token)).reason == "unknown_key"
    await verifier.close()
