"""`thidua webhooks rotate`: give webhook subscriptions new signing secrets through notify's API.

Each new secret is printed once (one JSON line per subscription, for a secret store to take);
the former secrets keep signing beside it for `NOTIFY_WEBHOOK_SECRET_OVERLAP_S`, so receivers
switch without a gap. Without ids it rotates every live subscription the caller may keep (a
city administrator: all of them), as after a suspected leak.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TextIO

import httpx


@dataclass
class Rotation:
    rotated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # webhook id -> the API's answer


async def live_webhooks(notify: httpx.AsyncClient) -> list[str]:
    answer = await notify.get("/webhooks")
    answer.raise_for_status()
    listed = answer.json()
    items = listed["items"] if isinstance(listed, dict) else listed
    return [w["webhook_id"] for w in items if w.get("deleted_at") is None]


async def rotate_secrets(notify: httpx.AsyncClient, webhook_ids: list[str] | None,
                         out: TextIO) -> Rotation:
    done = Rotation()
    for webhook_id in webhook_ids if webhook_ids else await live_webhooks(notify):
        if webhook_ids:  # named ones: a deleted subscription signs nothing any more
            found = await notify.get(f"/webhooks/{webhook_id}")
            if found.status_code == 200 and found.json().get("deleted_at") is not None:
                done.failed[webhook_id] = f"deleted at {found.json()['deleted_at']}"
                continue
        answer = await notify.post(f"/webhooks/{webhook_id}/secrets")
        if answer.status_code != 200:
            done.failed[webhook_id] = f"{answer.status_code} {answer.text[:300]}"
            continue
        done.rotated.append(webhook_id)
        out.write(json.dumps(answer.json(), ensure_ascii=False) + "\n")
    return done
