"""How long closing a phase holds it, at the size of Hanoi's 90-day peak, beside a bare count.

Starts registration in this process on the real broker and database, launches a campaign and
fills its open phase with N initiatives (default 30,000: the seeds' 2019 peak), each reviewed
once, and N/3 emulation registrations — written set-based in SQL, as fixtures, not measured.
Then closes the phase over HTTP while a submission to it is in flight. Prints the close's time
(HTTP, the phase locked, pending reviews searched, six counts, the close stored with its event)
beside the ceiling measured in the same run — PostgreSQL running the same counts bare, with no
lock, transaction or HTTP — their ratio, and how long the registration that raced the close
waited before it was refused (409 `phase_closed`): the barrier at work.

    python -m benchmarks.phase_close [--initiatives 30000] [--repeat 3]

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
from services.devstack.demo import DEMO_CAMPAIGN
from services.devstack.infrastructure import provide_infrastructure
from services.devstack.topics import all_topic_specs, ensure_topics
from services.registration.app import definition
from services.registration.phase_close import ACCEPTED_COUNTS
from services.registration.settings import RegistrationSettings
from services.runtime.http import create_app
from services.runtime.logs import configure_logging
from tests.support.directory import publish_tree, wait_until_projected
from tests.support.identity import ADMIN
from tests.support.runtime import test_settings

RUN = uuid.uuid4().hex[:6]
CITY = f"u-close-{RUN}-city"
UNITS = 100

# Fixtures: N initiatives of the phase over the units, one accepted review each, N/3 members
# registered; one statement each.
_INITIATIVES = """
    INSERT INTO initiatives (initiative_id, campaign_id, phase_id, unit_id, district, title,
                             field, authors, claimed_benefit_vnd, submitted_at, event_id,
                             correlation_id)
    SELECT 'ini-' || $1 || '-' || n, $1, $2, $3 || '-' || (n % $5), NULL,
           'Sáng kiến cải tiến số ' || n, 'kỹ thuật',
           '[{"member_id": "m-x", "full_name": "Nguyễn Văn A", "direct_worker": true}]',
           10000000, now(), 'ev-' || $1 || '-' || n, 'c'
    FROM generate_series(1, $4) AS n"""
_REVIEWS = """
    INSERT INTO initiative_reviews (initiative_id, level, outcome, grade,
                                    recognised_benefit_vnd, council_unit_id, reviewed_at,
                                    event_id, reviewed_by)
    SELECT initiative_id, 'grassroots', 'accepted', 'B', 5000000, unit_id, now(),
           'evr-' || initiative_id, '{}'
    FROM initiatives WHERE campaign_id = $1 AND phase_id = $2"""
_REGISTRATIONS = """
    INSERT INTO emulation_registrations (registration_id, campaign_id, phase_id, unit_id,
        subject_kind, subject_id, titles, target_level, registered_at, event_id, registered_by)
    SELECT 'reg-' || $1 || '-' || n, $1, $2, $3 || '-' || (n % $5), 'member',
           'm-' || $1 || '-' || n, '{good_worker}', 'grassroots', now(), 'evg-' || $1 || n, '{}'
    FROM generate_series(1, $4) AS n"""


def tree() -> list[UnitRegistered]:
    def unit(unit_id, kind, parent):
        return UnitRegistered(unit_id=unit_id, name=unit_id, kind=kind, parent_id=parent,
                              effective_from="2020-01-01", district_id=None, sector="other",
                              member_count=100, direct_worker_count=40)
    return [unit(CITY, "city_federation", None),
            *(unit(f"{CITY}-{n}", "grassroots_union", CITY) for n in range(UNITS))]


async def one_close(client: httpx.AsyncClient, pool, n: int) -> tuple[float, float, float]:
    """(close seconds, bare-count seconds, the racing submission's seconds) for one phase."""
    campaign = DEMO_CAMPAIGN | {"campaign_id": f"cmp-close-{RUN}-{uuid.uuid4().hex[:6]}",
                                "organizer_unit_id": CITY}
    phase = campaign["phases"][0]["phase_id"] = f"{campaign['campaign_id']}-p"
    launched = await client.post("/campaigns", json=campaign)
    launched.raise_for_status()
    cid = campaign["campaign_id"]
    async with pool.acquire() as conn:
        await conn.execute(_INITIATIVES, cid, phase, CITY, n, UNITS)
        await conn.execute(_REVIEWS, cid, phase)
        await conn.execute(_REGISTRATIONS, cid, phase, CITY, n // 3, UNITS)
        await conn.execute("ANALYZE initiatives; ANALYZE initiative_reviews; "
                           "ANALYZE emulation_registrations")
        started = time.perf_counter()
        await conn.fetch(ACCEPTED_COUNTS, cid, phase)
        bare = time.perf_counter() - started
    # A command for the phase before (caches warm), and one racing the close.
    def registration(unit: int) -> dict:
        return {"campaign_id": cid, "phase_id": phase, "subject_kind": "unit",
                "subject_id": f"{CITY}-{unit}", "titles": ["emulation_flag"]}

    (await client.post("/registrations", json=registration(1))).raise_for_status()

    async def timed(request, delay: float = 0.0):
        await asyncio.sleep(delay)
        t0 = time.perf_counter()
        answer = await request
        return answer, time.perf_counter() - t0

    (closed, close_s), (late, late_s) = await asyncio.gather(
        timed(client.post(f"/campaigns/{cid}/phases/{phase}/close")),
        timed(client.post("/registrations", json=registration(2)), delay=0.002))
    closed.raise_for_status()
    counts = closed.json()["accepted_counts"]
    assert counts["thidua.initiative.submitted.v1"] == n, counts
    assert counts["thidua.emulation.registered.v1"] == n // 3 + 1 + (late.status_code == 201)
    assert late.status_code in (201, 409), late.text
    return close_s, bare, late_s


async def run(args: argparse.Namespace, infra) -> None:
    await ensure_topics(infra.kafka_bootstrap_servers, all_topic_specs())
    settings = test_settings(RegistrationSettings, infra, "closebench", log_level="WARNING")
    app = create_app(definition(settings))
    runtime = app.state.runtime
    await runtime.start()
    try:
        await publish_tree(infra.kafka_bootstrap_servers, tree())
        await wait_until_projected([runtime.directory], tree())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://registration", headers=ADMIN,
                                     timeout=120) as client:
            runs = [await one_close(client, runtime.pool, args.initiatives)
                    for _ in range(args.repeat)]
    finally:
        await runtime.stop()
    close_s = statistics.median(r[0] for r in runs)
    bare_s = statistics.median(r[1] for r in runs)
    late_s = statistics.median(r[2] for r in runs)
    print(f"phase of {args.initiatives:,} reviewed initiatives and {args.initiatives // 3:,} "
          f"registrations, median of {args.repeat}:")
    print(f"  POST .../close (lock, pending search, counts, event): {close_s * 1000:8.1f} ms")
    print(f"  ceiling: the same counts bare in PostgreSQL:          {bare_s * 1000:8.1f} ms")
    print(f"  ratio close / bare counts: {close_s / bare_s:.2f}")
    print(f"  a registration racing the close answered after {late_s * 1000:.1f} ms "
          f"(refused 409 phase_closed once the close committed, or accepted and counted)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--initiatives", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra))


if __name__ == "__main__":
    main()
