"""Notify's webhooks against a real local HTTP receiver and PostgreSQL: queued in the batch's
transaction, POSTed signed (Standard Webhooks), retried, parked, replayed."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from services.notify import signing, webhook_store
from services.notify.domain import webhook_delivery_id
from services.notify.settings import NotifySettings
from services.notify.webhook_channel import WebhookSender
from tests.integration.services.test_notify_handlers import NOTIFY, eligibility_changed
from tests.support.handler_harness import open_harness
from tests.support.kafka_log import wait_for
from tests.support.webhook_receiver import running_receiver

pytestmark = pytest.mark.integration
ELIGIBILITY = "thidua.award.eligibility_changed.v1"


@pytest.fixture(scope="module")
async def notify(database_url):
    async with open_harness(database_url, NOTIFY) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(notify):
    await notify.reset()


@pytest.fixture
async def receiver():
    async with running_receiver() as r:
        yield r


def sender(notify, **overrides) -> WebhookSender:
    # A timeout that only bounds a hang: one that ran out under load would send a row again.
    settings = NotifySettings(**{"webhook_retry_backoff_s": 0, "webhook_timeout_s": 60}
                              | overrides)
    return WebhookSender(notify.pool, settings)


async def subscribe(notify, receiver, *, district: str = "d-dongda", path: str = "/hook",
                    types: tuple[str, ...] = (ELIGIBILITY,), webhook_id: str = "wh-1") -> str:
    secret = signing.new_secret()
    await webhook_store.create_webhook(notify.pool, webhook_id, "test:integrator",
                                    receiver.url(path), list(types), district, secret)
    return secret


async def test_event_type_matches_the_contract():
    assert eligibility_changed().type == ELIGIBILITY


async def test_a_matching_event_arrives_once_signed_and_verifiable_with_the_secret(
        notify, receiver):
    secret = await subscribe(notify, receiver)
    event = eligibility_changed("m-1", correlation_id="flow-w")
    await notify.apply(event)
    await notify.apply(event)  # redelivered: nothing more queued
    s = sender(notify)
    assert await s.run_once() == 1
    assert await s.run_once() == 0
    [got] = receiver.received
    assert got.headers["webhook-id"] == webhook_delivery_id(event.id, "wh-1")
    assert got.headers["content-type"] == "application/json"
    signing.verify(secret, got.body, got.headers)
    cloud_event = json.loads(got.body)
    assert (cloud_event["id"], cloud_event["type"], cloud_event["district"]) == (
        event.id, ELIGIBILITY, "d-dongda")
    assert cloud_event["data"]["subject_id"] == "m-1"
    await s.client.aclose()


async def test_a_tampered_body_or_an_old_timestamp_is_rejected(notify, receiver):
    secret = await subscribe(notify, receiver)
    await notify.apply(eligibility_changed("m-1"))
    s = sender(notify)
    await s.run_once()
    await s.client.aclose()
    [got] = receiver.received
    with pytest.raises(signing.VerificationFailed):
        signing.verify(secret, got.body.replace(b"m-1", b"m-2"), got.headers)
    with pytest.raises(signing.VerificationFailed):
        signing.verify(secret, got.body, got.headers, now=time.time() + 3600)
    with pytest.raises(signing.VerificationFailed):
        signing.verify(signing.new_secret(), got.body, got.headers)
    old = int(time.time()) - 3600
    replayed = got.headers | {"webhook-timestamp": str(old), "webhook-signature": signing.sign(
        secret, got.headers["webhook-id"], old, got.body)}
    with pytest.raises(signing.VerificationFailed):
        signing.verify(secret, got.body, replayed)


async def test_a_subscription_of_another_district_or_type_gets_nothing(notify, receiver):
    await subscribe(notify, receiver, district="d-badinh", webhook_id="wh-other")
    await subscribe(notify, receiver, types=("thidua.initiative.submitted.v1",),
                    webhook_id="wh-type")
    await notify.apply(eligibility_changed("m-1"))
    assert await sender(notify).run_once() == 0
    assert receiver.received == []


async def test_a_failing_receiver_gets_its_retries_then_the_delivery_is_parked_and_replayed(
        notify, receiver):
    secret = await subscribe(notify, receiver)
    event = eligibility_changed("m-1")
    await notify.apply(event)
    receiver.status = 503
    s = sender(notify, webhook_max_attempts=3)
    for _ in range(3):
        assert await s.run_once() == 1
    assert await s.run_once() == 0
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    [parked] = await webhook_store.webhook_deliveries(notify.pool, "wh-1", "parked", 10)
    assert (parked["attempts"], parked["last_error"]) == (3, "HTTP 503")
    receiver.status = 204
    replayed = await webhook_store.replay_delivery(notify.pool, "wh-1", parked["delivery_id"])
    assert replayed["status"] == "pending"
    assert await webhook_store.replay_delivery(notify.pool, "wh-1", parked["delivery_id"]) is None
    assert await s.run_once() == 1
    assert len(receiver.received) == 4
    signing.verify(secret, receiver.received[-1].body, receiver.received[-1].headers)
    [done] = await webhook_store.webhook_deliveries(notify.pool, "wh-1", "delivered", 10)
    assert done["delivery_id"] == parked["delivery_id"]
    await s.client.aclose()


async def test_during_a_rotation_both_secrets_sign_and_after_the_overlap_only_the_new(
        notify, receiver):
    old = await subscribe(notify, receiver)
    new = signing.new_secret()
    await webhook_store.rotate_secret(notify.pool, "wh-1", new, overlap_s=3600)
    await notify.apply(eligibility_changed("m-1"))
    s = sender(notify)
    await s.run_once()
    [got] = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    signing.verify(old, got.body, got.headers)
    signing.verify(new, got.body, got.headers)
    newer = signing.new_secret()
    await webhook_store.rotate_secret(notify.pool, "wh-1", newer, overlap_s=0)
    await notify.apply(eligibility_changed("m-2"))
    await s.run_once()
    latest = receiver.received[-1]
    signing.verify(newer, latest.body, latest.headers)
    for gone in (old, new):
        with pytest.raises(signing.VerificationFailed):
            signing.verify(gone, latest.body, latest.headers)
    await s.client.aclose()


async def test_a_slow_endpoint_does_not_hold_up_another(notify, receiver):
    """Each endpoint has its own slots: claims skip an endpoint whose slots are all in use."""
    await subscribe(notify, receiver, webhook_id="wh-1")
    await subscribe(notify, receiver, path="/other", webhook_id="wh-2")
    for member in ("m-1", "m-2", "m-3"):
        await notify.apply(eligibility_changed(member))
    s = sender(notify, webhook_max_per_endpoint=1)
    s._in_flight["wh-1"] = 1  # wh-1 busy with a slow request
    claimed = await s.claim()
    assert {row["webhook_id"] for row in claimed} == {"wh-2"}
    await s.client.aclose()


async def test_each_outcome_is_announced_delivered_or_failed_naming_the_subscription(
        notify, receiver):
    await subscribe(notify, receiver)
    event = eligibility_changed("m-1", correlation_id="flow-o")
    await notify.apply(event)
    s = sender(notify, webhook_max_attempts=1)
    await s.run_once()
    delivered = [d for d in await notify.emitted("thidua.notification.delivered.v1")
                 if d.data.channel == "webhook"]
    [d] = delivered
    assert (d.data.notification_id, d.data.recipient_id, d.data.recipient_kind,
            d.data.subject, d.data.source_event_id, d.data.attempts) == (
        webhook_delivery_id(event.id, "wh-1"), "wh-1", "integrator", ELIGIBILITY, event.id, 1)
    assert (d.causationid, d.correlationid, d.district) == (event.id, "flow-o", "d-dongda")
    receiver.status = 500
    await notify.apply(eligibility_changed("m-2"))
    await s.run_once()
    [failed] = await notify.emitted("thidua.notification.failed.v1")
    assert (failed.data.channel, failed.data.error, failed.data.attempts) == (
        "webhook", "HTTP 500", 1)
    await s.client.aclose()


async def test_a_dead_receiver_never_delays_the_others(notify, receiver):
    """A receiver that accepts connections and never answers ties up only its own slots: every
    delivery to the healthy receiver arrives while the dead one's requests still hang."""
    hung: list[asyncio.StreamWriter] = []

    async def never_answer(reader, writer):
        hung.append(writer)
        await reader.read(-1)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    dead_port = server.sockets[0].getsockname()[1]
    await webhook_store.create_webhook(notify.pool, "wh-dead", "test:integrator",
                                    f"http://127.0.0.1:{dead_port}/hook", [ELIGIBILITY],
                                    "d-dongda", signing.new_secret())
    await subscribe(notify, receiver, webhook_id="wh-ok")
    await notify.apply(*(eligibility_changed(f"m-{i}") for i in range(30)))
    s = sender(notify, webhook_timeout_s=600, webhook_max_per_endpoint=2,
               webhook_poll_interval_ms=20, webhook_batch_size=10)
    task = asyncio.create_task(s.run())
    try:
        async def all_arrived():
            return len(receiver.received) == 30 or None

        await wait_for(all_arrived, timeout=120)
        dead = await notify.pool.fetch(
            """SELECT status, attempts, last_error FROM webhook_deliveries
               WHERE webhook_id = 'wh-dead'""")
        # Its two slots are still waiting on the first two requests: nothing was recorded for
        # it, and nothing of the healthy receiver's waited behind them.
        assert sum(r["attempts"] for r in dead) == 2
        assert {(r["status"], r["last_error"]) for r in dead} == {("pending", None)}
        assert len(hung) == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
        for writer in hung:
            writer.close()


async def test_a_failing_endpoint_opens_its_circuit_and_its_rows_wait_untried(notify, receiver):
    await subscribe(notify, receiver, webhook_id="wh-fail")
    await subscribe(notify, receiver, path="/other", webhook_id="wh-ok")
    await notify.apply(*(eligibility_changed(f"m-{i}") for i in range(5)))
    receiver.status = 503
    s = sender(notify, webhook_max_per_endpoint=1, webhook_breaker_failures=2,
               webhook_breaker_open_s=600, webhook_max_attempts=10)
    s.breaker.succeeded("wh-ok")
    claimed = [await s.run_once() for _ in range(3)]
    # Both endpoints fail (one status for the whole receiver): each is tried twice, then
    # both circuits are open and nothing more is claimed, no attempt spent.
    assert claimed == [2, 2, 0]
    assert s.breaker.is_open("wh-fail") and s.breaker.is_open("wh-ok")
    attempts = await notify.pool.fetchval("SELECT sum(attempts) FROM webhook_deliveries")
    assert attempts == 4
    assert await notify.pool.fetchval(
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'") == 10
    await s.client.aclose()


async def test_a_webhook_sender_stopped_mid_fan_out_resends_nothing_it_recorded(
        notify, receiver):
    await subscribe(notify, receiver)
    await notify.apply(*(eligibility_changed(f"m-{i}") for i in range(30)))
    first = sender(notify, webhook_claim_lease_s=0.5, webhook_poll_interval_ms=10,
                   webhook_max_per_endpoint=2, webhook_max_concurrency=2, webhook_batch_size=4)
    task = asyncio.create_task(first.run())
    deadline = time.monotonic() + 120
    while (delivered := await notify.pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")) < 8:
        assert not task.done(), task  # the sender ended (or failed) before 8 were recorded
        assert time.monotonic() < deadline, delivered
        await asyncio.sleep(0.005)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    recorded = {r[0] for r in await notify.pool.fetch(
        "SELECT delivery_id FROM webhook_deliveries WHERE status = 'delivered'")}
    await asyncio.sleep(0.6)  # leases run out
    second = sender(notify, webhook_max_per_endpoint=2)
    while await second.run_once():
        pass
    await second.client.aclose()
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert set(ids) == {r[0] for r in await notify.pool.fetch(
        "SELECT delivery_id FROM webhook_deliveries")}
    twice = {i for i in ids if ids.count(i) > 1}
    assert not recorded & twice  # only what was in flight, unrecorded, may come twice
    # At most the requests in flight (2) and those that returned while a commit ran, awaiting
    # theirs (2): the worker's bound on sent-and-unrecorded rows, twice its concurrency. The
    # endpoint's own bound is no bound here: its slot is free while an outcome is recorded.
    assert len(twice) <= 2 * 2


async def test_a_claim_takes_of_each_endpoint_at_most_its_free_slots_oldest_first(
        notify, receiver):
    await subscribe(notify, receiver, webhook_id="wh-1")
    await subscribe(notify, receiver, path="/other", webhook_id="wh-2")
    await notify.apply(*(eligibility_changed(f"m-{i}") for i in range(5)))
    s = sender(notify, webhook_max_per_endpoint=3)
    try:
        rows = await s.channel.claim(10, [], {"wh-1": 1})
        assert sorted(r["webhook_id"] for r in rows) == ["wh-1", "wh-2", "wh-2", "wh-2"]
        # Claimed rows are leased: the next claim takes what is left, none of an excluded one.
        rows = await s.channel.claim(10, ["wh-2"])
        assert [r["webhook_id"] for r in rows] == ["wh-1"] * 3
        assert [r["webhook_id"] for r in await s.channel.claim(10, ["wh-2"])] == ["wh-1"]
        assert await s.channel.claim(10, ["wh-2"]) == []
        assert await notify.pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE attempts = 1") == 8
    finally:
        await s.client.aclose()
