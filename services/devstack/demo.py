"""The walking skeleton: one initiative submitted over HTTP comes back as a member's notification.

The demo plays two people with tokens from the local issuer: the school union's official, who
submits the teacher's initiative, and the teacher, who reads her inbox. The unit directory they
are checked against is recorded first, through registration's commands (`demo_directory.py`).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime

import httpx

from services.runtime.access import VIETNAM

from .demo_directory import CITY, SCHOOL, TEACHER, WARD_LANG

DEMO_MEMBER = TEACHER


def demo_campaign(year: int) -> dict:
    """The city federation's campaign for the year, one phase from 1 Jan to 31 Dec (the body
    of `POST /campaigns`)."""
    return {
        "campaign_id": f"cmp-hn-{year}",
        "organizer_unit_id": CITY,
        "year": year,
        "theme": f"Thi đua lao động giỏi, lao động sáng tạo năm {year}",
        "movements": ["Lao động giỏi, lao động sáng tạo", "Giỏi việc nước, đảm việc nhà"],
        "phases": [{"phase_id": f"cmp-hn-{year}-ca-nam", "name": f"Cả năm {year}",
                    "starts_on": f"{year}-01-01", "ends_on": f"{year}-12-31"}],
    }


# The year the demo (and the tests built on it) runs in, as a Vietnamese calendar year.
DEMO_CAMPAIGN = demo_campaign(datetime.now(VIETNAM).year)
DEMO_INITIATIVE = {
    "campaign_id": DEMO_CAMPAIGN["campaign_id"],
    "phase_id": DEMO_CAMPAIGN["phases"][0]["phase_id"],
    "unit_id": SCHOOL,
    "title": "Ứng dụng phần mềm quản lý hồ sơ học sinh",
    "field": "quản lý",
    "authors": [{"member_id": DEMO_MEMBER, "full_name": "Nguyễn Thị Lan", "direct_worker": False}],
    "claimed_benefit_vnd": 120_000_000,
}


DEMO_REVIEW = {"outcome": "accepted", "level": "grassroots", "grade": "B",
               "recognised_benefit_vnd": 100_000_000,
               "comment": "Hội đồng sáng kiến cơ sở công nhận, áp dụng toàn trường"}


# How long the walking skeleton waits for the submission's own notification before it has the
# initiative reviewed (a used database, where the submission changes no verdict); a loaded
# machine may need longer (`THIDUA_DEMO_SUBMISSION_GRACE_S`).
SUBMISSION_GRACE_S = float(os.environ.get("THIDUA_DEMO_SUBMISSION_GRACE_S") or 10.0)


def demo_timeout_s() -> float:
    """How long the walking skeleton waits in all, the consumer groups' first joins included
    (`THIDUA_DEMO_TIMEOUT_S`, 60 s): a loaded machine may need longer."""
    return float(os.environ.get("THIDUA_DEMO_TIMEOUT_S") or 60.0)


class DemoFailed(RuntimeError):
    pass


def run_demo(registration_url: str, notify_url: str, issuer,
             timeout_s: float | None = None) -> dict:
    """Submit the demo initiative as the school's union official; return the notification
    that carries its correlation id, as the teacher sees it."""
    timeout_s = timeout_s or demo_timeout_s()
    correlation_id, review_correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    official = issuer.mint(role="grassroots_official", unit=SCHOOL, subject="local:official-lt",
                           name="Trần Văn Minh")
    teacher = issuer.mint(role="member", member=DEMO_MEMBER, subject="local:teacher-lt",
                          name="Nguyễn Thị Lan")
    started = time.monotonic()
    with httpx.Client(timeout=10.0) as client:
        _await_directory(client, registration_url, official, started + timeout_s)
        launch_demo_campaign(client, registration_url, issuer.mint(
            role="city_admin", subject="local:city-admin", name="Ban Tuyên giáo LĐLĐ Thành phố"))
        response = client.post(f"{registration_url}/initiatives", json=DEMO_INITIATIVE,
                               headers={"X-Correlation-ID": correlation_id,
                                        "Authorization": f"Bearer {official}"})
        if response.status_code not in (201, 202):
            raise DemoFailed(f"POST /initiatives answered {response.status_code}: {response.text}")
        accepted = response.json()
        print(f"registration accepted initiative {accepted.get('initiative_id')} "
              f"(event {accepted.get('event_id')}, HTTP {response.status_code})", flush=True)
        # On a fresh database the submission reaches her through scoring and awards; on a
        # used one it may change none of her verdicts and say nothing, and she hears of the
        # school council's review instead (a thread of its own, sent once the submission's
        # was heard of or given up on, so that scoring does not fold the submission's score
        # change into the review's).
        notification = _poll_notification(client, notify_url, teacher, correlation_id,
                                          min(started + timeout_s,
                                              time.monotonic() + SUBMISSION_GRACE_S))
        reviewed = client.post(
            f"{registration_url}/initiatives/{accepted['initiative_id']}/reviews",
            json=DEMO_REVIEW, headers={"X-Correlation-ID": review_correlation_id,
                                       "Authorization": f"Bearer {official}"})
        if reviewed.status_code != 201:
            raise DemoFailed(f"POST /initiatives/…/reviews answered {reviewed.status_code}: "
                             f"{reviewed.text}")
        if notification is None:
            notification = _poll_notification(client, notify_url, teacher,
                                              review_correlation_id, started + timeout_s)
        if notification is None:
            raise DemoFailed(f"no notification for correlationid={correlation_id} (nor its "
                             f"review's, {review_correlation_id}) at {notify_url}")
    elapsed = time.monotonic() - started
    print(f"\nthe initiative reached {DEMO_MEMBER}'s inbox in {elapsed:.1f} s:\n"
          f"  POST {registration_url}/initiatives -> registration outbox\n"
          f"  -> thidua.initiatives.v1 -> scoring -> thidua.scores.v1 -> awards\n"
          f"  -> thidua.awards.v1 (or its review, straight from thidua.initiatives.v1) -> notify "
          f"(from event {notification.get('source_event_id')})\n"
          f"  -> GET {notify_url}/members/{DEMO_MEMBER}/notifications: "
          f"{notification.get('subject') or notification}\n"
          f"grep the logs for correlationid={correlation_id}", flush=True)
    return notification


def launch_demo_campaign(client: httpx.Client, registration_url: str, token: str) -> None:
    """Launch the year's campaign once; a repeat replays the first answer (same key) or finds
    it launched (409 `campaign_exists`)."""
    response = client.post(f"{registration_url}/campaigns", json=DEMO_CAMPAIGN,
                           headers={"Authorization": f"Bearer {token}",
                                    "Idempotency-Key": f"demo-{DEMO_CAMPAIGN['campaign_id']}"})
    if response.status_code != 201 and not (
            response.status_code == 409 and "campaign_exists" in response.text):
        raise DemoFailed(f"POST /campaigns answered {response.status_code}: {response.text}")


def _await_directory(client: httpx.Client, registration_url: str, token: str,
                     deadline: float) -> None:
    """Registration checks the official's scope on its copy of the directory: wait until it
    has the school under its ward union (the last of the demo's moves)."""
    url = f"{registration_url}/directory/units/{SCHOOL}"
    last = "nothing yet"
    while time.monotonic() < deadline:
        response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        last = f"HTTP {response.status_code}"
        if response.status_code == 200 and response.json()["parent_id"] == WARD_LANG:
            return
        time.sleep(0.1)
    raise DemoFailed(f"registration's directory never showed {SCHOOL} under {WARD_LANG} ({last})")


def _poll_notification(client: httpx.Client, notify_url: str, token: str,
                       correlation_id: str, deadline: float) -> dict | None:
    """The teacher's first notification of the thread, or None by the deadline."""
    url = f"{notify_url}/members/{DEMO_MEMBER}/notifications"
    while time.monotonic() < deadline:
        try:
            response = client.get(url, headers={"Authorization": f"Bearer {token}"},
                                  params={"correlation_id": correlation_id})
            if response.status_code == 200:
                for item in response.json():
                    if item.get("correlation_id") == correlation_id:
                        return item
        except (httpx.HTTPError, ValueError):
            pass  # a service still starting: the deadline bounds the wait
        time.sleep(0.25)
    return None
