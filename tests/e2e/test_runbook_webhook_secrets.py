"""`thidua webhooks rotate` against notify's API: every live subscription gets a new secret,
printed once; the deleted and the unknown are left as they are and said so."""

from __future__ import annotations

import io
import json

import httpx
import pytest

from services.devstack.demo_directory import WARD_LANG
from services.ops.webhook_secrets import rotate_secrets
from tests.support.identity import bearer

pytestmark = pytest.mark.integration


async def test_every_live_webhook_of_the_caller_gets_a_new_secret(system, directory_seeded):
    keeper = bearer("integrator", unit=WARD_LANG, subject="test:rotation-keeper")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=system["notify"]),
                                 base_url="http://notify", headers=keeper) as notify:
        created = [(await notify.post("/webhooks", json={
            "url": f"https://hr.example.vn/hook/{n}", "unit_id": WARD_LANG,
            "event_types": ["thidua.award.eligibility_changed.v1"]})).json() for n in range(3)]
        gone = created.pop()
        assert (await notify.delete(f"/webhooks/{gone['webhook_id']}")).status_code == 200
        out = io.StringIO()
        done = await rotate_secrets(notify, None, out)
        assert sorted(done.rotated) == sorted(w["webhook_id"] for w in created)
        printed = [json.loads(line) for line in out.getvalue().splitlines()]
        old = {w["webhook_id"]: w["secret"] for w in created}
        for secret in printed:
            assert secret["secret"].startswith("whsec_")
            assert secret["secret"] != old[secret["webhook_id"]]
            assert secret["previous_valid_for_s"] > 0

        unknown = await rotate_secrets(notify, ["wh-nowhere", gone["webhook_id"]], io.StringIO())
        assert unknown.rotated == []
        assert set(unknown.failed) == {"wh-nowhere", gone["webhook_id"]}
        assert unknown.failed["wh-nowhere"].startswith("404")
        assert unknown.failed[gone["webhook_id"]].startswith("deleted at")
