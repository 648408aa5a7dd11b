"""Every route of the four services fuzzed from its own OpenAPI document (schemathesis).

Valid and invalid requests, generated per operation and sent with tokens of several roles, must
never get a 5xx; every 4xx must be a problem document, naming the field at fault when the
request's content is (400, 422); and a refused request must store nothing: no event on any topic
carries its correlation id. Generation is derandomized, so a run is repeatable; set
`THIDUA_FUZZ_EXAMPLES` for a longer search than the suite's default.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, openapi

from contracts.topics import ALL_TOPICS
from services.devstack.demo_directory import CITY, SCHOOL, TEACHER, WARD_LANG
from tests.support.identity import bearer
from tests.support.kafka_log import read_topic

pytestmark = [
    pytest.mark.integration,
    # schemathesis draws from `random` inside its strategies; hypothesis warns of it.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = int(os.environ.get("THIDUA_FUZZ_EXAMPLES", "6"))
TOKENS = {
    "city_admin": bearer("city_admin", subject="fuzz:admin"),
    "grassroots_official": bearer("grassroots_official", unit=SCHOOL, subject="fuzz:official"),
    "member": bearer("member", member=TEACHER, subject="fuzz:teacher"),
    "council_reviewer": bearer("council_reviewer", unit=SCHOOL, subject="fuzz:council"),
    "integrator": bearer("integrator", unit=WARD_LANG, subject="fuzz:integrator"),
    "auditor": bearer("auditor", unit=CITY, subject="fuzz:auditor"),
}
FIELD_ERRORS = {400, 422}  # the request's content is at fault: say which field


def _operations(apps) -> Iterator[tuple[str, object]]:
    for name, app in apps.items():
        schema = openapi.from_dict(app.openapi())
        for result in schema.get_all_operations():
            yield name, result.ok()


def _request(case, token: dict[str, str], correlation_id: str) -> dict:
    kwargs = case.as_transport_kwargs(base_url="http://service")
    headers = {k: v for k, v in (kwargs.pop("headers", None) or {}).items()
               if k.lower() not in {"authorization", "x-correlation-id"}}
    request = {"method": kwargs.pop("method"), "url": kwargs.pop("url"),
               "headers": {**headers, **token, "X-Correlation-ID": correlation_id},
               "params": kwargs.pop("params", None)}
    if "json" in kwargs:
        request["json"] = kwargs.pop("json")
    elif kwargs.get("data") is not None:
        data = kwargs.pop("data")
        request["content"] = data if isinstance(data, bytes | str) else str(data)
    return request


def _problem_faults(response: httpx.Response) -> list[str]:
    faults = []
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return [f"content-type {response.headers.get('content-type')!r}, not a problem document"]
    body = response.json()
    for key in ("type", "title", "status", "detail"):
        if key not in body:
            faults.append(f"problem document without {key!r}")
    if body.get("status") != response.status_code:
        faults.append(f"problem status {body.get('status')} on an HTTP {response.status_code}")
    if response.status_code in FIELD_ERRORS and not any(e.get("field")
                                                        for e in body.get("errors", [])):
        faults.append("no field named in the errors")
    return faults


async def test_no_route_answers_5xx_or_an_unexplained_4xx_and_refusals_store_nothing(
        system, kafka_bootstrap_servers):
    loop = asyncio.get_running_loop()
    clients = {name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                       base_url="http://service", timeout=30)
               for name, app in system.items()}
    refused: dict[str, str] = {}  # correlation id -> the request, for the report
    faults: list[str] = []
    sent = 0

    def fuzz(service: str, operation, mode: GenerationMode) -> None:
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(mode), role=st.sampled_from(sorted(TOKENS)))
        def one(case, role):
            nonlocal sent
            correlation_id = str(uuid.uuid4())
            request = _request(case, TOKENS[role], correlation_id)
            response = asyncio.run_coroutine_threadsafe(
                clients[service].request(**request), loop).result(timeout=60)
            sent += 1
            where = f"{service} {request['method']} {request['url']} as {role}"
            if response.status_code >= 500:
                faults.append(f"{where}: HTTP {response.status_code} {response.text[:300]}")
            elif response.status_code >= 400:
                refused[correlation_id] = where
                faults.extend(f"{where}: HTTP {response.status_code}: {fault}: {response.text[:240]}"
                              for fault in _problem_faults(response))

        try:
            one()
        except Unsatisfiable:
            # Nothing to make invalid: an operation without parameters or body (`/healthz`).
            if mode is GenerationMode.POSITIVE:
                raise

    try:
        for service, operation in _operations(system):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                await asyncio.to_thread(fuzz, service, operation, mode)
    finally:
        for client in clients.values():
            await client.aclose()
    assert not faults, f"{len(faults)} of {sent} requests:\n" + "\n".join(faults[:40])
    assert sent > 0 and refused

    # A refused request stored nothing: none of its correlation ids reached a topic.
    await asyncio.sleep(2)  # whatever the last accepted requests caused leaves the outboxes
    leaked = set()
    for topic in ALL_TOPICS:
        for record in await read_topic(kafka_bootstrap_servers, topic.name):
            text = (record.value or b"").decode("utf-8", "replace") + "".join(
                value.decode("utf-8", "replace") for _, value in record.headers or ())
            leaked |= {cid for cid in refused if cid in text}
    assert not leaked, [refused[cid] for cid in leaked]
