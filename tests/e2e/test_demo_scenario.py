"""The demo scenario end to end: the four services as separate processes on a broker and a
database of their own, each killed (SIGKILL) at a different step and started again, and the
outcome checked against what the scenario's facts and its rule set dictate — worked out here,
independently of the services: every event a valid CloudEvent on its topic, the counts, each
cluster's standings, every placement of the award round, the decisions, and no notification
twice on any channel.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import time
from collections import Counter, defaultdict
from decimal import Decimal

import httpx
import pytest

from contracts import ALL_TOPICS, decode_event
from services.devstack import supervisor as sup
from services.devstack.blocking import run_blocking
from services.devstack.demo_directory import CITY
from services.devstack.demo_sinks import WebhookSink
from services.devstack.identity import LocalIssuer
from services.devstack.scenario_campaign import award_rules
from services.devstack.scenario_client import Urls
from services.devstack.scenario_directory import (
    demo_members,
    member_units,
    scenario_members,
    scenario_tree,
    scenario_units,
    ward_of,
)
from services.devstack.scenario_initiatives import EXCLUDED, INITIATIVES, WORKS, registered_members
from services.devstack.scenario_participation import CLUSTERS, cluster_id, targets_met
from services.devstack.scenario_run import Scenario
from services.ops.status import group_lag
from services.registry import NAMES, SERVICES
from tests.support.kafka_log import read_topic
from tests.support.ports import free_base_port
from tests.support.private_stack import private_infrastructure
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

# The default scoring rule set, as the federation publishes it (scoring README): grade points
# per level, doubling at each level up; 2 for taking part, 5 a pledged target met, 15 a work.
GRADE = {"A": 10, "B": 7, "C": 5}
LEVEL_FACTOR = {"grassroots": 1, "district": 2, "city": 4}
LEVELS = ("grassroots", "district", "city")
PARTICIPATION, TARGET_MET, WORK = 2, 5, 15
# Which service is killed after which step: each once, while the others work on.
KILLS = {"campaign": "scoring", "participation": "registration", "reviews": "awards",
         "close": "notify"}


# --- what the scenario's facts dictate ---------------------------------------------------

def highest_accepted(initiative):
    accepted = [r for r in initiative.reviews if r[1] == "accepted"]
    return max(accepted, key=lambda r: LEVELS.index(r[0])) if accepted else None


def initiative_points(initiative) -> int:
    best = highest_accepted(initiative)
    return PARTICIPATION + (GRADE[best[2]] * LEVEL_FACTOR[best[0]] if best else 0)


def member_points() -> dict[str, int]:
    points: Counter = Counter()
    for initiative in INITIATIVES:
        for author in initiative.author_ids:
            points[author] += initiative_points(initiative)
    for member in registered_members():
        points[member] += PARTICIPATION
    return dict(points)


def unit_points() -> dict[str, int]:
    points: Counter = Counter()
    for _, units in CLUSTERS.values():
        for unit in units:
            points[unit] += PARTICIPATION + TARGET_MET * targets_met(unit)
    for initiative in INITIATIVES:
        points[initiative.unit_id] += initiative_points(initiative)
    for work in WORKS:
        points[work.unit_id] += WORK
    return dict(points)


def per_100(unit: str, points: int) -> Decimal:
    return Decimal(100 * points) / scenario_units()[unit].member_count


def expected_cluster_standings(key: str) -> list[tuple[str, int]]:
    points = unit_points()
    units = CLUSTERS[key][1]
    return sorted(((u, points[u]) for u in units),
                  key=lambda up: (-per_100(*up), -up[1], up[0]))


def _top(group: list[str], order, what: str) -> tuple[str, list[str]]:
    ranked = sorted(group, key=order)
    # The scenario's facts leave no tie at the top: the tie-breakers' "earliest" would decide.
    assert len(ranked) == 1 or order(ranked[0]) != order(ranked[1]), (what, ranked[:2])
    return ranked[0], ranked[1:]


def expected_placements() -> dict[tuple[str, str, str], str]:
    """(title, level, subject) → `proposed` or `beyond_quota`, under the campaign's rule set
    (`award_rules()`: advanced labourer from 2 points; good worker from 20, one place per ward
    union at district; creative labour from one accepted initiative worth 80 M VND recognised;
    the flag to the leader of each cluster, one a cluster at district and city)."""
    rules = {r["title"]: r for r in award_rules()["titles"]}
    assert award_rules()["disclosure_days"] == 0
    placed: dict[tuple[str, str, str], str] = {}
    points, excluded, units = member_points(), EXCLUDED[0], member_units()
    direct = {r.member_id: r.direct_worker for r in scenario_members()} | {
        m.member_id: m.direct_worker for m in demo_members()}
    members = [m for m in points if m != excluded]
    for m in members:
        if points[m] >= Decimal(rules["advanced_labourer"]["min_points"]):
            placed["advanced_labourer", "grassroots", m] = "proposed"
    workers = [m for m in members if points[m] >= Decimal(rules["good_worker"]["min_points"])]
    by_ward = defaultdict(list)
    for m in workers:
        placed["good_worker", "grassroots", m] = "proposed"
        by_ward[ward_of()[units[m]]].append(m)
    size = {u: s.member_count for u, s in scenario_units().items()}
    for ward, group in by_ward.items():
        first, rest = _top(group, lambda m: (-points[m], not direct[m], size[units[m]] > 30),
                           f"good_worker at {ward}")
        placed["good_worker", "district", first] = "proposed"
        placed.update({("good_worker", "district", m): "beyond_quota" for m in rest})
    benefit: Counter = Counter()
    for initiative in INITIATIVES:
        if best := highest_accepted(initiative):
            for author in initiative.author_ids:
                benefit[author] += best[3]
    creative = rules["creative_labour"]["min_recognised_benefit_vnd"]
    for m in members:
        if benefit[m] >= creative:
            placed.update({("creative_labour", level, m): "proposed" for level in LEVELS})
    totals = unit_points()
    for key, (_, group) in CLUSTERS.items():
        # One flag a cluster, whichever ward unions its units lie under; its leader alone goes
        # on to the city's list.
        first, rest = _top(list(group), lambda u: (-per_100(u, totals[u]), size[u] > 30),
                           f"emulation_flag in {key}")
        placed["emulation_flag", "district", first] = "proposed"
        placed.update({("emulation_flag", "district", u): "beyond_quota" for u in rest})
        placed["emulation_flag", "city", first] = "proposed"
    return placed


def expected_registration_events(phase_id: str) -> dict[str, int]:
    tree = scenario_tree()
    kinds = Counter(type(e).__name__ for e in tree)
    reviews = sum(len(i.reviews) for i in INITIATIVES)
    units = sum(len(us) for _, us in CLUSTERS.values())
    return {
        "thidua.unit.registered.v1": kinds["UnitRegistered"],
        "thidua.unit.updated.v1": kinds["UnitUpdated"],
        "thidua.member.registered.v1": kinds["MemberRegistered"] + len(scenario_members()),
        "thidua.cluster.formed.v1": len(CLUSTERS),
        "thidua.campaign.launched.v1": 1,
        "thidua.emulation.registered.v1": units + len(registered_members()),
        "thidua.pledge.signed.v1": units,
        "thidua.pledge.result_reported.v1": units,
        "thidua.initiative.submitted.v1": len(INITIATIVES),
        "thidua.initiative.reviewed.v1": reviews,
        "thidua.work.registered.v1": len(WORKS),
        "thidua.phase.closed.v1": 1,
    }


# --- the run ------------------------------------------------------------------------------

@pytest.fixture
def stack(infrastructure, tmp_path):
    issuer = LocalIssuer(tmp_path / "identity")
    issuer.ensure_keys()
    with private_infrastructure(infrastructure, tmp_path / "infra") as infra, \
            SmtpServer() as smtp, WebhookSink() as webhook:
        base = free_base_port()
        notify_env = {"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(smtp.port),
                      "NOTIFY_EMAIL_POLL_INTERVAL_MS": "100",
                      "NOTIFY_WEBHOOK_POLL_INTERVAL_MS": "100",
                      # A killed sender's leased rows are sent again when the lease runs out.
                      "NOTIFY_EMAIL_CLAIM_LEASE_S": "5", "NOTIFY_WEBHOOK_CLAIM_LEASE_S": "5"}
        env = {"LOG_FORMAT": "json"}

        def start(name: str) -> sup.ServiceProcess:
            extra = env | (notify_env if name == "notify" else {})
            return sup.start_service(name, sup.service_port(name, base), infra,
                                     issuer.service_environment(), extra)

        services = {name: start(name) for name in NAMES}
        try:
            sup.wait_until_ready(list(services.values()), 120)
            yield infra, issuer, services, start, smtp, webhook
        finally:
            sup.stop_services(list(services.values()))



async def _behind(bootstrap: str) -> list[tuple[str, str, int]]:
    """(group, topic, lag) of every service's consumer group that has events left to consume,
    as `thidua status` measures it; the four groups at once."""
    definitions = [importlib.import_module(entry.app_module).definition() for entry in SERVICES]
    lags = await asyncio.gather(*(
        group_lag(bootstrap, entry.name, definition.settings.group_id,
                  sorted(t.name for t in definition.consumes))
        for entry, definition in zip(SERVICES, definitions, strict=True)))
    return [(lag.group, lag.topic, lag.lag) for per_group in lags for lag in per_group if lag.lag]


def drained(urls, bootstrap: str, timeout_s: float = 180.0) -> None:
    """Wait until every service has consumed every event meant for it (its consumer group's
    committed offsets at the end of each topic it reads) and every relay is idle: nothing in
    flight, no backlog at its last check (every 5 s), its published count unchanged for 6 s
    (past that check). Quiet relays alone are no proof: a consumer restarted after a kill
    waits for its group's rebalance, seconds in which nothing moves and its events wait."""
    deadline, still_since, seen, last, behind = time.monotonic() + timeout_s, None, None, {}, []
    while time.monotonic() < deadline:
        last = {name: httpx.get(f"{getattr(urls, name)}/stats", timeout=30).json()["relay"]
                for name in NAMES}
        published = {name: r["published"] for name, r in last.items()}
        busy = any(r["in_flight"] or r["backlog_rows"] for r in last.values())
        if busy or published != seen:
            still_since, seen = time.monotonic(), published
        elif time.monotonic() - still_since >= 6.0:
            behind = run_blocking(_behind(bootstrap))
            if not behind:
                return
            still_since = time.monotonic()  # what they still consume moves the relays again
        time.sleep(0.5)
    raise AssertionError(f"not drained in {timeout_s} s: relays {last}, behind {behind}")


def test_the_scenario_reaches_the_outcome_its_facts_dictate_whichever_service_is_killed(stack):
    infra, issuer, services, start, smtp, webhook = stack
    killed: list[str] = []

    def kill_and_restart(step: str) -> None:
        name = KILLS.get(step)
        if name is None:
            return
        os.killpg(services[name].process.pid, signal.SIGKILL)
        services[name].process.wait()
        services[name] = start(name)
        sup.wait_until_ready([services[name]], 120)
        killed.append(name)

    urls = Urls(**{name: services[name].url for name in NAMES})
    scenario = Scenario(urls, issuer, between=kill_and_restart, webhook=webhook,
                        progress=lambda line: None, timeout_s=180)
    outcome = scenario.run()
    assert outcome.acted and sorted(killed) == sorted(KILLS.values())
    cid, pid = outcome.campaign_id, outcome.phase_id

    # Every outbox published: notify's last deliveries may still wait in its relay.
    drained(urls, infra.kafka_bootstrap_servers)

    # Every record on every topic is a CloudEvent of a known type, on its type's topic.
    events: dict[str, dict[str, object]] = {}  # topic -> event id -> event (copies collapse)
    for topic in ALL_TOPICS:
        records = run_blocking(read_topic(infra.kafka_bootstrap_servers, topic.name))
        dead = run_blocking(read_topic(infra.kafka_bootstrap_servers, f"{topic.name}.dlq"))
        assert not dead, f"{topic.name}.dlq"
        for record in records:
            event = decode_event(record.value)
            assert event.data.topic.name == topic.name, (event.type, topic.name)
            assert record.key == event.partition_key().encode(), event.type
            events.setdefault(topic.name, {})[str(event.id)] = event
    by_type = Counter(e.type for per_topic in events.values() for e in per_topic.values())

    # Registration emitted exactly the scenario's commands; the close counted them.
    expected = expected_registration_events(pid)
    assert {t: by_type[t] for t in expected} == expected
    closed = next(e for e in events["thidua.campaigns.v1"].values()
                  if e.type == "thidua.phase.closed.v1")
    accepted = {t: n for t, n in closed.data.accepted_counts.items() if n}
    assert accepted == {t: expected[t] for t in accepted} and len(accepted) == 6
    finalized = [e for e in events["thidua.scores.v1"].values()
                 if e.type == "thidua.phase.standings_finalized.v1"
                 and e.data.scope_kind == "phase"]
    assert len(finalized) == 1

    # Each cluster's standings: points and per-100-members ranking from the facts.
    for key in CLUSTERS:
        found = scenario.get(urls.scoring, f"/campaigns/{cid}/phases/{pid}/standings",
                             subject="unit", scope="cluster", scope_id=cluster_id(scenario.year,
                                                                                  key))
        listed = [(s["subject_id"], Decimal(s["total_points"]), Decimal(s["ranking_points"]))
                  for s in found["standings"]]
        wanted = expected_cluster_standings(key)
        assert [(u, p) for u, p, _ in listed] == [(u, Decimal(p)) for u, p in wanted], key
        for (unit, points), (_, _, ranking) in zip(wanted, listed, strict=True):
            assert abs(ranking - per_100(unit, points)) < Decimal("0.0001"), unit

    # The round placed every candidate as the rule set dictates; each placement within quota
    # is approved into a numbered decision, nothing beyond it.
    proposals = scenario.proposals()
    excluded = {p["status"] for p in proposals if p["subject_id"] == EXCLUDED[0]}
    assert excluded == {"excluded"}
    placed = {(p["title"], p["level"], p["subject_id"]): p["status"] for p in proposals
              if p["subject_id"] != EXCLUDED[0]}
    wanted = {k: "approved" if s == "proposed" else s for k, s in expected_placements().items()}
    assert placed == wanted
    approved = [p for p in proposals if p["status"] == "approved"]
    assert by_type["thidua.award.proposed.v1"] == len(approved)
    granted = [e for e in events["thidua.awards.v1"].values()
               if e.type == "thidua.award.granted.v1"]
    assert len(granted) == len(approved)
    decisions = scenario.get(urls.awards, "/decisions", year=scenario.year, limit=500)["items"]
    assert sum(d["recipient_count"] for d in decisions) == len(approved)
    numbers = Counter((d["issuer_unit_id"], d["decision_number"]) for d in decisions)
    assert max(numbers.values()) == 1  # numbered once per issuer
    assert {d["issuer_unit_id"] for d in decisions} >= {CITY}

    # No notification twice: one delivery event per notification id; e-mails and webhooks by
    # their ids (a copy sent again after a kill carries the same Message-ID / webhook-id, for
    # the receiver to drop); each member hears once of each of their awards.
    delivered = [e.data for e in events["thidua.notifications.v1"].values()
                 if e.type == "thidua.notification.delivered.v1"]
    assert Counter(d.notification_id for d in delivered).most_common(1)[0][1] == 1
    per_channel = Counter(d.channel for d in delivered)
    stats = {c["channel"]: c for c in scenario.get(urls.notify,
                                                   "/statistics/notifications")["channels"]}
    assert all(c["pending"] == 0 and c["failed"] == 0 for c in stats.values()), stats
    assert {ch: stats[ch]["delivered"] for ch in stats} == {
        ch: per_channel[ch] for ch in stats}
    assert len({m["Message-ID"] for m in smtp.messages}) == per_channel["email"] > 0
    hooks = dict(zip(webhook.verified, webhook.event_types, strict=True))
    assert webhook.refused == 0 and len(hooks) == per_channel["webhook"]
    assert Counter(hooks.values())["thidua.award.granted.v1"] == len(granted)
    granted_to = defaultdict(set)
    for event in granted:
        if event.data.subject_kind == "member":
            granted_to[event.data.subject_id].add(str(event.id))
    assert sum(len(ids) for ids in granted_to.values()) == sum(
        1 for p in approved if p["subject_kind"] == "member")
    for member, ids in granted_to.items():
        inbox = scenario.get(urls.notify, f"/members/{member}/notifications",
                             template="award_granted", limit=500)
        about = Counter(n["source_event_id"] for n in inbox if n["source_event_id"] in ids)
        assert about == dict.fromkeys(ids, 1), (member, json.dumps(inbox, ensure_ascii=False)[:500])
