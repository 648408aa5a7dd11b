"""Integrators' webhook subscriptions over HTTP: own subscriptions within their subtree, secrets
shown once and rotated, never on any topic."""

from __future__ import annotations

import pytest

from services.devstack.demo_directory import WARD_LANG, WARD_NGHIADO
from tests.support.identity import bearer

pytestmark = pytest.mark.integration

ELIGIBILITY = "thidua.award.eligibility_changed.v1"


def subscription(unit_id: str = WARD_LANG, url: str = "https://hr.example.vn/hook") -> dict:
    return {"url": url, "event_types": [ELIGIBILITY], "unit_id": unit_id}


async def test_an_integrator_keeps_its_own_webhooks_within_its_subtree(clients,
                                                                         directory_seeded):
    notify = clients["notify"]
    mine = bearer("integrator", unit=WARD_LANG, subject="test:hr-langthuong")
    other = bearer("integrator", unit=WARD_LANG, subject="test:another-system")
    created = await notify.post("/webhooks", json=subscription(), headers=mine)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["unit_id"] == WARD_LANG
    webhook_id = hook["webhook_id"]

    listed = (await notify.get("/webhooks", headers=mine)).json()
    assert [w["webhook_id"] for w in listed] == [webhook_id]
    assert "secret" not in listed[0]
    assert (await notify.get("/webhooks", headers=other)).json() == []
    assert (await notify.get(f"/webhooks/{webhook_id}", headers=other)).status_code == 404

    rotated = await notify.post(f"/webhooks/{webhook_id}/secrets", headers=mine)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != hook["secret"]

    deleted = await notify.delete(f"/webhooks/{webhook_id}", headers=mine)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted_at"] is not None
    assert (await notify.get("/webhooks", headers=mine)).json() == []
    gone = (await notify.get(f"/webhooks/{webhook_id}", headers=mine)).json()
    assert gone["deleted_at"] is not None


async def test_a_deleted_webhook_has_no_secret_to_rotate_and_nothing_to_replay(clients,
                                                                             directory_seeded):
    notify = clients["notify"]
    mine = bearer("integrator", unit=WARD_LANG, subject="test:hr-deleted")
    hook = (await notify.post("/webhooks", json=subscription(), headers=mine)).json()
    webhook_id = hook["webhook_id"]
    kept = {"Idempotency-Key": "rotate-before-delete"}
    before = await notify.post(f"/webhooks/{webhook_id}/secrets", headers=mine | kept)
    assert before.status_code == 200, before.text
    assert (await notify.delete(f"/webhooks/{webhook_id}", headers=mine)).status_code == 200

    rotated = await notify.post(f"/webhooks/{webhook_id}/secrets", headers=mine)
    assert rotated.status_code == 409, rotated.text
    assert rotated.json()["errors"][0]["code"] == "webhook_deleted"
    replayed = await notify.post(f"/webhooks/{webhook_id}/deliveries/msg-any/replay",
                                 headers=mine)
    assert replayed.status_code == 409, replayed.text
    assert replayed.json()["errors"][0]["code"] == "webhook_deleted"
    # A retry of the rotation made before the deletion still answers as it did.
    again = await notify.post(f"/webhooks/{webhook_id}/secrets", headers=mine | kept)
    assert again.status_code == 200 and again.json() == before.json()
    # Someone else's deleted subscription stays unknown to them.
    other = bearer("integrator", unit=WARD_LANG, subject="test:another-system")
    assert (await notify.post(f"/webhooks/{webhook_id}/secrets",
                              headers=other)).status_code == 404


async def test_a_unit_outside_the_scope_or_a_plain_http_url_is_refused(clients,
                                                                       directory_seeded):
    notify = clients["notify"]
    mine = bearer("integrator", unit=WARD_LANG, subject="test:hr-langthuong")
    outside = await notify.post("/webhooks", json=subscription(WARD_NGHIADO), headers=mine)
    assert outside.status_code == 404, outside.text
    plain = await notify.post("/webhooks", json=subscription(url="http://hr.example.vn/hook"),
                              headers=mine)
    assert plain.status_code == 422, plain.text
    assert plain.json()["errors"][0]["field"].endswith("url")
    loopback = await notify.post("/webhooks",
                                 json=subscription(url="http://127.0.0.1:9/hook"), headers=mine)
    assert loopback.status_code == 201, loopback.text


async def test_a_retried_subscription_or_rotation_with_its_key_happens_once(clients,
                                                                            directory_seeded):
    notify = clients["notify"]
    mine = bearer("integrator", unit=WARD_LANG, subject="test:hr-retry")
    key = {"Idempotency-Key": "retry-subscribe-1"}
    first = await notify.post("/webhooks", json=subscription(), headers=mine | key)
    again = await notify.post("/webhooks", json=subscription(), headers=mine | key)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len((await notify.get("/webhooks", headers=mine)).json()) == 1
    other_body = await notify.post("/webhooks", json=subscription(url="https://x.example.vn/h"),
                                   headers=mine | key)
    assert other_body.status_code == 422
    assert other_body.json()["errors"][0]["code"] == "idempotency_key_reused"
    webhook_id = first.json()["webhook_id"]
    rotate = {"Idempotency-Key": "retry-rotate-1"}
    one = await notify.post(f"/webhooks/{webhook_id}/secrets", headers=mine | rotate)
    two = await notify.post(f"/webhooks/{webhook_id}/secrets", headers=mine | rotate)
    assert one.json()["secret"] == two.json()["secret"]


async def test_an_event_type_notify_does_not_deliver_is_refused_naming_the_field(
        clients, directory_seeded):
    mine = bearer("integrator", unit=WARD_LANG, subject="test:hr-types")
    answer = await clients["notify"].post(
        "/webhooks", headers=mine,
        json=subscription() | {"event_types": ["thidua.score.changed.v1"]})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"].startswith("event_types")
    assert "thidua.award.granted.v1" in error["message"]


async def test_deliveries_page_with_a_cursor_and_filter_by_status_and_type(
        clients, system, directory_seeded):
    notify = clients["notify"]
    mine = bearer("integrator", unit=WARD_LANG, subject="test:hr-pages")
    created = await notify.post("/webhooks", json=subscription(), headers=mine)
    webhook_id = created.json()["webhook_id"]
    pool = system["notify"].state.runtime.pool
    await pool.executemany(
        """INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, event_type, body,
               status, created_at)
           VALUES ($1, $2, $1, $3, '{}', $4, now() - make_interval(secs => $5))""",
        [(f"msg-page-{webhook_id}-{i}", webhook_id, ELIGIBILITY,
          "parked" if i % 2 else "delivered", float(i)) for i in range(7)])
    seen, url = [], f"/webhooks/{webhook_id}/deliveries?limit=3"
    while url:
        answer = await notify.get(url, headers=mine)
        assert answer.status_code == 200, answer.text
        seen += [d["delivery_id"] for d in answer.json()]
        link = answer.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert seen == [f"msg-page-{webhook_id}-{i}" for i in range(7)]
    parked = (await notify.get(f"/webhooks/{webhook_id}/deliveries?status=parked",
                               headers=mine)).json()
    assert [d["delivery_id"][-1] for d in parked] == ["1", "3", "5"]
    other = (await notify.get(f"/webhooks/{webhook_id}/deliveries",
                              params={"event_type": "thidua.award.granted.v1"},
                              headers=mine)).json()
    assert other == []
    bad = await notify.get(f"/webhooks/{webhook_id}/deliveries?cursor=eA", headers=mine)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    await pool.execute("DELETE FROM webhook_deliveries WHERE webhook_id = $1", webhook_id)
