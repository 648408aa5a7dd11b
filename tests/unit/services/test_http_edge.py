"""What every request passes through: a bounded correlation id, a body cap, the duration
metric by route template, `/metrics`, and the role deciding which routes a process serves."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import structlog
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from services.runtime.logs import configure_logging
from tests.support.edge_app import edge_app, edge_client

router = APIRouter()
log = structlog.get_logger()


class Echo(BaseModel):
    correlation_id: str
    size: int


@router.post("/initiatives/{initiative_id}")
async def echo(initiative_id: str, request: Request) -> Echo:
    body = await request.body()
    log.info("echoed", initiative_id=initiative_id)
    return Echo(correlation_id=request.state.correlation_id, size=len(body))


@pytest.fixture(autouse=True)
def restore_logging():
    handlers = logging.getLogger().handlers[:]
    config = structlog.get_config()
    yield
    logging.getLogger().handlers = handlers
    structlog.configure(**config)


def client(**settings):
    return edge_client(edge_app(router, **settings))


async def test_a_plain_correlation_id_is_kept_and_echoed():
    async with client() as http:
        answer = await http.post("/initiatives/i-1", headers={"X-Correlation-ID": "req:42.a_b-c"})
    assert answer.headers["x-correlation-id"] == "req:42.a_b-c"
    assert answer.json()["correlation_id"] == "req:42.a_b-c"


@pytest.mark.parametrize("odd", ["x" * 129, "two words", "a\tb", "<script>", "é-accented", "a/b"])
async def test_an_odd_correlation_id_is_replaced_by_a_fresh_one_and_never_logged(odd, capsys):
    configure_logging("edge", "json", "INFO")
    async with client() as http:  # raw bytes: HTTP allows latin-1 octets in header values
        answer = await http.post("/initiatives/i-1",
                                 headers={"X-Correlation-ID": odd.encode("latin-1")})
    fresh = answer.headers["x-correlation-id"]
    assert str(uuid.UUID(fresh)) == fresh and answer.json()["correlation_id"] == fresh
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["correlationid"] for line in lines if line["event"] == "echoed"] == [fresh]
    assert all(odd not in json.dumps(line, ensure_ascii=False) for line in lines)


async def test_a_correlation_id_of_128_characters_is_kept():
    async with client() as http:
        answer = await http.post("/initiatives/i-1", headers={"X-Correlation-ID": "c" * 128})
    assert answer.headers["x-correlation-id"] == "c" * 128


async def test_a_body_declared_over_the_cap_is_refused_with_413_before_it_is_read():
    async with client(http_max_body_bytes=1000) as http:
        answer = await http.post("/initiatives/i-1", content=b"x" * 1001)
    assert (answer.status_code, answer.headers["content-type"]) == (
        413, "application/problem+json")
    assert answer.json()["status"] == 413 and "1000 bytes" in answer.json()["detail"]
    assert answer.headers["x-correlation-id"]


async def test_a_streamed_body_growing_over_the_cap_is_refused_with_413():
    async def chunks():
        for _ in range(5):
            yield b"x" * 300

    async with client(http_max_body_bytes=1000) as http:
        answer = await http.post("/initiatives/i-1", content=chunks())
    assert (answer.status_code, answer.headers["content-type"]) == (
        413, "application/problem+json")


async def test_a_body_at_the_cap_is_read_whole():
    async with client(http_max_body_bytes=1000) as http:
        answer = await http.post("/initiatives/i-1", content=b"x" * 1000)
    assert (answer.status_code, answer.json()["size"]) == (200, 1000)


def duration_count(metrics: str, method: str, route: str, status: str) -> float:
    labels = f'method="{method}",route="{route}",status="{status}"'
    prefix = f"thidua_http_request_duration_seconds_count{{{labels}}} "
    found = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(found[0].removeprefix(prefix)) if found else 0.0


async def test_request_durations_are_counted_by_route_template_method_and_status():
    async with client() as http:
        before = (await http.get("/metrics")).text
        await http.post("/initiatives/i-1")
        await http.post("/initiatives/i-2")
        await http.get("/no/such/path-123")
        answer = await http.get("/metrics")
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    after = answer.text
    template = "/initiatives/{initiative_id}"
    assert duration_count(after, "POST", template, "200") == duration_count(
        before, "POST", template, "200") + 2
    assert duration_count(after, "GET", "<unmatched>", "404") == duration_count(
        before, "GET", "<unmatched>", "404") + 1
    assert "/initiatives/i-1" not in after and "path-123" not in after


async def test_a_worker_serves_health_stats_and_metrics_but_not_the_services_routes():
    app = edge_app(router, role="worker")
    paths = set(app.openapi()["paths"])
    assert paths == {"/healthz", "/readyz", "/stats", "/metrics"}
    async with edge_client(app) as http:
        assert (await http.post("/initiatives/i-1")).status_code == 404
        assert (await http.get("/healthz")).json() == {"status": "alive", "service": "edge"}
        assert (await http.get("/metrics")).status_code == 200


@pytest.mark.parametrize("role", ["api", "all"])
async def test_an_api_process_serves_the_services_routes(role):
    async with edge_client(edge_app(router, role=role)) as http:
        assert (await http.post("/initiatives/i-1")).status_code == 200


@router.post("/imports/units")
async def upload(request: Request) -> Echo:
    size = 0
    async for chunk in request.stream():  # as an upload route reads: never the whole body
        size += len(chunk)
    return Echo(correlation_id=request.state.correlation_id, size=size)


def upload_client():
    return client(http_max_body_bytes=1000, body_limits={"/imports/": 5000})


async def test_an_upload_path_takes_bodies_up_to_its_own_limit():
    async def chunks(count: int):
        for _ in range(count):
            yield b"x\x00" * 500  # not JSON: passed through to the route as it is

    async with upload_client() as http:
        taken = await http.post("/imports/units", content=chunks(5),
                                headers={"Content-Type": "text/csv"})
        over = await http.post("/imports/units", content=chunks(6),
                               headers={"Content-Type": "text/csv"})
        declared = await http.post("/imports/units", content=b"x" * 5001,
                                   headers={"Content-Type": "text/csv"})
        elsewhere = await http.post("/initiatives/i-1", content=b"x" * 1001)
    assert (taken.status_code, taken.json()["size"]) == (200, 5000)
    assert over.status_code == declared.status_code == elsewhere.status_code == 413
    assert "5000 bytes" in declared.json()["detail"]
    assert "1000 bytes" in elsewhere.json()["detail"]
