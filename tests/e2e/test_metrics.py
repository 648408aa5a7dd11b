"""`/metrics` on every service is scraped as Prometheus would, and its series move as events flow."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.topics import AWARDS, INITIATIVES, NOTIFICATIONS, SCORES
from tests.e2e.test_walking_skeleton import submission
from tests.support.kafka_log import wait_for

pytestmark = pytest.mark.integration


async def scrape(client) -> dict[tuple[str, frozenset], float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_every_service_exposes_metrics_whose_series_move_when_events_flow(clients):
    before = {name: await scrape(client) for name, client in clients.items()}
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    answer = await clients["registration"].post("/initiatives", json=submission(member_id))
    assert answer.status_code == 202, answer.text

    async def delivered():
        found = (await clients["notify"].get(f"/members/{member_id}/notifications")).json()
        return found or None

    await wait_for(delivered, timeout=60)

    async def moved():
        after = {name: await scrape(client) for name, client in clients.items()}
        checks = [
            # HTTP: the command, by route template and status.
            ("registration", "thidua_http_request_duration_seconds_count",
             {"route": "/initiatives", "method": "POST", "status": "202"}),
            # Each hop's relay published, each consumer applied, on its own topic.
            ("registration", "thidua_relay_published_total", {"topic": INITIATIVES.name}),
            ("scoring", "thidua_consumer_events_total",
             {"topic": INITIATIVES.name, "outcome": "applied"}),
            ("scoring", "thidua_relay_published_total", {"topic": SCORES.name}),
            ("awards", "thidua_consumer_events_total",
             {"topic": SCORES.name, "outcome": "applied"}),
            ("awards", "thidua_relay_published_total", {"topic": AWARDS.name}),
            ("notify", "thidua_consumer_events_total",
             {"topic": AWARDS.name, "outcome": "applied"}),
            ("notify", "thidua_relay_published_total", {"topic": NOTIFICATIONS.name}),
            ("scoring", "thidua_consumer_batch_size_count", {}),
            ("scoring", "thidua_consumer_batch_duration_seconds_count", {}),
            ("scoring", "thidua_consumer_handler_duration_seconds_count",
             {"type": "thidua.initiative.submitted.v1"}),
        ]
        stuck = [
            (service, name, labels) for service, name, labels in checks
            if value(after[service], name, **labels) <= value(before[service], name, **labels)
        ]
        return after if not stuck else None

    after = await wait_for(moved)
    lag = [labels for (name, labels) in after["scoring"] if name == "thidua_consumer_lag"]
    assert any(("topic", INITIATIVES.name) in labels for labels in lag)
    for series in ("thidua_outbox_backlog_rows", "thidua_outbox_oldest_age_seconds",
                   "thidua_relay_is_leader", "thidua_consumer_partition_stalled_seconds"):
        assert any(name == series for name, _ in after["scoring"]) or series.startswith(
            "thidua_consumer_partition"), series
