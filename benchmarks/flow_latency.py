"""How long an initiative takes to show as a score and to reach its author's inbox, at idle.

Starts the four services in this process on the real broker and database (as the end-to-end
tests do), then submits N initiatives one after another over HTTP and polls scoring's and
notify's APIs every 3 ms: the time from the accepted POST to the unit's score being visible,
and to the author's notification. Prints median and p99 of each.

    python -m benchmarks.flow_latency [--initiatives 40]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx

from contracts.events.org import UnitRegistered
from services.devstack.demo import DEMO_CAMPAIGN, DEMO_INITIATIVE
from services.devstack.infrastructure import provide_infrastructure
from services.devstack.topics import all_topic_specs, ensure_topics
from services.registry import SERVICES
from services.runtime.http import create_app
from services.runtime.logs import configure_logging
from tests.e2e.conftest import composed
from tests.support.directory import publish_tree, wait_until_projected
from tests.support.identity import ADMIN
from tests.support.runtime import test_settings

POLL_S = 0.003


RUN = uuid.uuid4().hex[:6]


def unit_of(n: int) -> str:
    return f"u-lat-{RUN}-{n + 1}"


def latency_tree(count: int) -> list[UnitRegistered]:
    """One union per initiative (its first score is the one waited for), under one city."""
    def unit(unit_id, kind, parent):
        return UnitRegistered(unit_id=unit_id, name=unit_id, kind=kind, parent_id=parent,
                              effective_from="2020-01-01", district_id=None, sector="other",
                              member_count=100, direct_worker_count=40)
    city = f"u-lat-{RUN}-city"
    return [unit(city, "city_federation", None),
            *(unit(unit_of(n), "grassroots_union", city) for n in range(-1, count))]


async def submit_and_follow(clients: dict[str, httpx.AsyncClient], n: int) -> tuple[float, float]:
    member, unit = f"m-lat-{uuid.uuid4().hex[:8]}", unit_of(n)
    body = DEMO_INITIATIVE | {"unit_id": unit,
                              "authors": [DEMO_INITIATIVE["authors"][0] | {"member_id": member}]}
    started = time.perf_counter()
    answer = await clients["registration"].post("/initiatives", json=body)
    assert answer.status_code == 202, answer.text
    scored = None
    while True:
        if scored is None and (await clients["scoring"].get(f"/units/{unit}/scores")).json():
            scored = time.perf_counter() - started
        if (await clients["notify"].get(f"/members/{member}/notifications")).json():
            delivered = time.perf_counter() - started
            return scored if scored is not None else delivered, delivered
        await asyncio.sleep(POLL_S)


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(0, round(0.99 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


async def run(args: argparse.Namespace, infra) -> None:
    await ensure_topics(infra.kafka_bootstrap_servers, all_topic_specs())
    apps = {}
    for service in SERVICES:
        define, settings_cls = composed(service)
        apps[service.name] = create_app(define(test_settings(
            settings_cls, infra, service.name, log_level="WARNING")))
    for app in apps.values():
        await app.state.runtime.start()
    tree = latency_tree(args.initiatives)
    await publish_tree(infra.kafka_bootstrap_servers, tree)
    await wait_until_projected([apps["registration"].state.runtime.directory], tree)
    # The city administrator: a token verified once, then from the verifier's cache.
    clients = {name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                       base_url=f"http://{name}", headers=ADMIN)
               for name, app in apps.items()}
    try:
        launched = await clients["registration"].post("/campaigns", json=DEMO_CAMPAIGN | {
            "organizer_unit_id": f"u-lat-{RUN}-city"})
        assert launched.status_code == 201, launched.text
        await submit_and_follow(clients, -1)  # the consumer groups have joined once this arrives
        to_score, to_inbox = [], []
        for n in range(args.initiatives):
            scored, delivered = await submit_and_follow(clients, n)
            to_score.append(scored)
            to_inbox.append(delivered)
            await asyncio.sleep(0.2)  # idle between initiatives
        print(f"{args.initiatives} initiatives, one at a time, polled every {POLL_S * 1000:.0f} ms")
        print(f"POST accepted -> unit score visible     {summary(to_score)}")
        print(f"POST accepted -> author's notification  {summary(to_inbox)}")
    finally:
        for client in clients.values():
            await client.aclose()
        for app in apps.values():
            await app.state.runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--initiatives", type=int, default=40)
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra))


if __name__ == "__main__":
    main()
