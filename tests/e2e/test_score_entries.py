"""Why a subject has its points: the ledger behind a total, a page at a time, to whom it
belongs."""

from __future__ import annotations

import uuid

import pytest

from services.devstack.demo import DEMO_INITIATIVE
from services.devstack.demo_directory import HOSPITAL, SCHOOL
from tests.support.identity import bearer
from tests.support.kafka_log import wait_for

pytestmark = pytest.mark.integration


async def test_each_point_is_explained_by_the_event_and_rule_that_gave_it(clients):
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": member_id}
    official = bearer("grassroots_official", unit=SCHOOL)
    accepted = await clients["registration"].post(
        "/initiatives", json=DEMO_INITIATIVE | {"authors": [author]}, headers=official)
    assert accepted.status_code == 202, accepted.text
    event_id = accepted.json()["event_id"]

    async def entries():
        answer = await clients["scoring"].get(f"/scores/member/{member_id}/entries",
                                              headers=bearer("member", member=member_id))
        assert answer.status_code == 200, answer.text
        return answer.json()["entries"]

    [entry] = await wait_for(entries, timeout=60)
    assert (entry["source_event_id"], entry["reason"], float(entry["points"])) == (
        event_id, "initiative_submitted", 2.0)
    assert (entry["campaign_id"], entry["phase_id"]) == (DEMO_INITIATIVE["campaign_id"],
                                                         DEMO_INITIATIVE["phase_id"])

    other = await clients["scoring"].get(f"/scores/member/{member_id}/entries",
                                         headers=bearer("grassroots_official", unit=HOSPITAL))
    assert other.status_code == 404


async def test_a_units_ledger_pages_with_a_cursor(clients):
    official = bearer("grassroots_official", unit=SCHOOL)
    for _ in range(2):
        body = DEMO_INITIATIVE | {"authors": [DEMO_INITIATIVE["authors"][0] | {
            "member_id": f"m-{uuid.uuid4().hex[:8]}"}]}
        assert (await clients["registration"].post("/initiatives", json=body,
                                                   headers=official)).status_code == 202

    async def first_page():
        page = (await clients["scoring"].get(f"/scores/unit/{SCHOOL}/entries?limit=1",
                                             headers=official)).json()
        return page if page["next_after"] is not None else None

    page = await wait_for(first_page, timeout=60)
    assert len(page["entries"]) == 1 and page["next_after"] == page["entries"][0]["entry_id"]
    following = (await clients["scoring"].get(
        f"/scores/unit/{SCHOOL}/entries?limit=1&after={page['next_after']}",
        headers=official)).json()
    assert following["entries"][0]["entry_id"] > page["next_after"]
