"""How the scenario talks to the services: each role's token from the local issuer, and
requests retried while the answer means "not yet", with an `Idempotency-Key` per command so a
repeated run replays what an earlier one did."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .demo_directory import RECORDER

# What a command answers when its step was recorded by an earlier run.
DONE = {"unit_exists", "member_exists", "change_not_after_latest", "campaign_exists",
        "cluster_exists", "already_registered", "registration_exists", "pledge_exists",
        "results_already_reported", "initiative_exists", "already_reviewed_at_level",
        "work_exists", "work_already_approved", "exclusion_exists"}
# Answers that mean "not yet": a projection still filling, a service restarting.
RETRY_STATUS = {404, 502, 503, 504}


class ScenarioFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Urls:
    registration: str
    scoring: str
    awards: str
    notify: str


class ScenarioClient:
    """The services' public HTTP APIs as the scenario's roles call them."""

    def __init__(self, urls: Urls, issuer, *, timeout_s: float = 120.0) -> None:
        self.urls, self.issuer, self.timeout_s = urls, issuer, timeout_s
        self.http = httpx.Client(timeout=30.0)
        self._tokens: dict[tuple, str] = {}

    # --- who acts -----------------------------------------------------------------------

    def token(self, role: str, unit: str | None = None, member: str | None = None) -> str:
        key = (role, unit, member)
        if key not in self._tokens:
            subject = f"local:demo:{role}:{unit or member or 'city'}"
            name = RECORDER.name if role == "city_admin" else None
            self._tokens[key] = self.issuer.mint(role=role, unit=unit, member=member,
                                                 subject=subject, name=name,
                                                 ttl_seconds=4 * 3600)
        return self._tokens[key]

    def admin(self) -> str:
        return self.token("city_admin")

    # --- HTTP ---------------------------------------------------------------------------

    def call(self, method: str, url: str, token: str, *, key: str | None = None,
             json=None, content: bytes | None = None, params=None,
             headers: dict | None = None, ok=(200, 201, 202)) -> httpx.Response:
        """One request, retried while the answer means "not yet" (a projection filling, a
        service restarting) until the run's deadline; a `DONE` conflict counts as done."""
        hdrs = {"Authorization": f"Bearer {token}"} | (headers or {})
        if key:
            hdrs["Idempotency-Key"] = idempotency_key(key)
        deadline = time.monotonic() + self.timeout_s
        last = "no answer"
        while True:
            try:
                answer = self.http.request(method, url, headers=hdrs, json=json, content=content,
                                           params=params)
                if answer.status_code in ok or (answer.status_code == 409 and codes(answer) & DONE):
                    return answer
                last = f"{answer.status_code} {answer.text[:600]}"
                if answer.status_code not in RETRY_STATUS:
                    raise ScenarioFailed(f"{method} {url} answered {last}")
            except httpx.TransportError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"{method} {url}: still {last}")
            time.sleep(0.25)

    def post(self, base: str, path: str, token: str, body, key: str) -> httpx.Response:
        return self.call("POST", f"{base}{path}", token, key=f"demo:{key}", json=body)

    def get(self, base: str, path: str, token: str | None = None, **params):
        return self.call("GET", f"{base}{path}", token or self.admin(), params=params).json()

    def until(self, probe: Callable, what: str):
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if found := probe():
                return found
            time.sleep(0.3)
        raise ScenarioFailed(f"waited {self.timeout_s:.0f} s for {what}")


def idempotency_key(text: str) -> str:
    """The header allows `A-Z a-z 0-9 . _ : -`, at most 128: other characters become dots, a
    longer key keeps its start and a digest of the whole."""
    key = re.sub(r"[^A-Za-z0-9._:-]", ".", text)
    if len(key) <= 128:
        return key
    return key[:100] + ":" + hashlib.sha256(text.encode()).hexdigest()[:27]


def codes(answer: httpx.Response) -> set[str]:
    try:
        return {e.get("code") for e in answer.json().get("errors", [])}
    except (ValueError, AttributeError):
        return set()
