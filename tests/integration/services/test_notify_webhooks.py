"""Notify's webhooks against a real local HTTP receiver and PostgreSQL: queued in the batch's
transaction, POSTed signed (Standard Webhooks), retried, parked, replayed."""

from __future__ import annotations

import json
import time

import pytest

from services.notify import repository, signing
from services.notify.domain import webhook_delivery_id
from services.notify.settings import NotifySettings
from services.notify.webhooks import WebhookSender
from tests.integration.services.test_notify_handlers import NOTIFY, eligibility_changed
from tests.support.handler_harness import open_harness
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
    settings = NotifySettings(**{"webhook_retry_backoff_s": 0, "webhook_timeout_s": 5}
                              | overrides)
    return WebhookSender(notify.pool, settings)


async def subscribe(notify, receiver, *, district: str = "d-dongda", path: str = "/hook",
                    types: tuple[str, ...] = (ELIGIBILITY,), webhook_id: str = "wh-1") -> str:
    secret = signing.new_secret()
    await repository.create_webhook(notify.pool, webhook_id, "test:integrator",
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
    [parked] = await repository.webhook_deliveries(notify.pool, "wh-1", "parked", 10)
    assert (parked["attempts"], parked["last_error"]) == (3, "HTTP 503")
    receiver.status = 204
    replayed = await repository.replay_delivery(notify.pool, "wh-1", parked["delivery_id"])
    assert replayed["status"] == "pending"
    assert await repository.replay_delivery(notify.pool, "wh-1", parked["delivery_id"]) is None
    assert await s.run_once() == 1
    assert len(receiver.received) == 4
    signing.verify(secret, receiver.received[-1].body, receiver.received[-1].headers)
    [done] = await repository.webhook_deliveries(notify.pool, "wh-1", "delivered", 10)
    assert done["delivery_id"] == parked["delivery_id"]
    await s.client.aclose()


async def test_during_a_rotation_both_secrets_sign_and_after_the_overlap_only_the_new(
        notify, receiver):
    old = await subscribe(notify, receiver)
    new = signing.new_secret()
    await repository.rotate_secret(notify.pool, "wh-1", new, overlap_s=3600)
    await notify.apply(eligibility_changed("m-1"))
    s = sender(notify)
    await s.run_once()
    [got] = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    signing.verify(old, got.body, got.headers)
    signing.verify(new, got.body, got.headers)
    newer = signing.new_secret()
    await repository.rotate_secret(notify.pool, "wh-1", newer, overlap_s=0)
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
