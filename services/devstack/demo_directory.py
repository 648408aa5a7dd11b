"""The demo's slice of the Hanoi union tree, through the 2025 reorganisation, as org events.

Two district federations (Đống Đa, Cầu Giấy) with one grassroots union each, from 2020; on
1 Jul 2025 the district federations are dissolved and their grassroots unions handed to the city
federation; on 1 Oct 2025 ward unions are founded and take them over (DOMAIN-RULES.md, "The
2025 reorganisation"). So the demo school was in Đống Đa's subtree until 30 Jun 2025 and is in
phường Láng's today.

`thidua up --demo` records this tree through registration's commands (`record_directory`:
`POST /units`, `POST /units/{id}/changes`, `POST /members`, ... as a city administrator), so
registration holds it and emits its org events, from which every service's directory fills.
Tests that need a tree in the projections only may still publish the events themselves
(`publish_org_events`), as registration would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

import httpx
from aiokafka import AIOKafkaProducer

from contracts import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, encode_event, new_event
from contracts.events.base import Actor, EventData
from contracts.events.org import MemberRegistered, MemberUpdated, UnitRegistered, UnitUpdated

CITY = "u-hanoi"
DONGDA = "u-dongda"
CAUGIAY = "u-caugiay"
WARD_LANG = "u-phuong-lang"
WARD_NGHIADO = "u-phuong-nghiado"
SCHOOL = "u-dongda-thcs-langthuong"  # Công đoàn Trường THCS Láng Thượng (the seeds)
HOSPITAL = "u-caugiay-bv-e"
TEACHER = "m-lt-0007"  # the demo initiative's author

FOUNDED = date(2020, 1, 1)
DISTRICTS_DISSOLVED = date(2025, 7, 1)
WARDS_FOUNDED = date(2025, 10, 1)

RECORDER = Actor(subject="local:city_admin", role="city_admin", name="Ban Tổ chức LĐLĐ Thành phố")


def unit_founded(unit_id: str, name: str, kind: str, parent: str | None, district: str | None,
          sector: str, members: int, direct: int, on: date = FOUNDED) -> UnitRegistered:
    return UnitRegistered(
        unit_id=unit_id, name=name, kind=kind, parent_id=parent, effective_from=on,
        district_id=district, sector=sector, member_count=members,
        direct_worker_count=direct, actor=RECORDER)


def unit_moved(before: UnitRegistered | UnitUpdated, on: date, parent: str | None, district: str | None,
           status: str = "active") -> UnitUpdated:
    state = before.model_dump(exclude={"effective_from", "parent_id", "district_id", "status",
                                       "changed", "previous_parent_id"})
    changed = [name for name, old, new in (("parent_id", before.parent_id, parent),
                                           ("district_id", before.district_id, district),
                                           ("status", before.status, status)) if old != new]
    return UnitUpdated(**state, effective_from=on, parent_id=parent, district_id=district,
                       status=status, changed=changed,
                       previous_parent_id=before.parent_id if parent != before.parent_id
                       else None)


def demo_directory() -> list[EventData]:
    """The demo tree's events, founding first."""
    city = unit_founded(CITY, "LĐLĐ Thành phố Hà Nội", "city_federation", None, None, "other",
                 1_050_000, 420_000)
    dongda = unit_founded(DONGDA, "LĐLĐ quận Đống Đa", "district_federation", CITY, DONGDA, "other",
                   62_000, 18_000)
    caugiay = unit_founded(CAUGIAY, "LĐLĐ quận Cầu Giấy", "district_federation", CITY, CAUGIAY,
                    "other", 48_000, 12_000)
    school = unit_founded(SCHOOL, "Công đoàn Trường THCS Láng Thượng", "grassroots_union", DONGDA,
                   DONGDA, "education", 62, 0)
    hospital = unit_founded(HOSPITAL, "Công đoàn Bệnh viện E", "grassroots_union", CAUGIAY, CAUGIAY,
                     "health", 1_450, 0)
    lang = unit_founded(WARD_LANG, "Công đoàn phường Láng", "upper_level_union", CITY, WARD_LANG,
                 "other", 9_800, 2_100, on=WARDS_FOUNDED)
    nghiado = unit_founded(WARD_NGHIADO, "Công đoàn phường Nghĩa Đô", "upper_level_union", CITY,
                    WARD_NGHIADO, "other", 11_200, 2_600, on=WARDS_FOUNDED)
    teacher = MemberRegistered(
        member_id=TEACHER, unit_id=SCHOOL, full_name="Nguyễn Thị Lan", gender="female",
        direct_worker=False, job_title="giáo viên", effective_from=FOUNDED, actor=RECORDER)
    colleague = MemberRegistered(
        member_id="m-lt-0012", unit_id=SCHOOL, full_name="Trần Văn Minh", gender="male",
        direct_worker=False, union_officer=True, job_title="giáo viên, chủ tịch công đoàn",
        effective_from=FOUNDED, actor=RECORDER)
    nurse = MemberRegistered(
        member_id="m-bve-0031", unit_id=HOSPITAL, full_name="Phạm Thu Hằng", gender="female",
        direct_worker=True, job_title="điều dưỡng", effective_from=FOUNDED, actor=RECORDER)
    school_july = unit_moved(school, DISTRICTS_DISSOLVED, CITY, None)
    hospital_july = unit_moved(hospital, DISTRICTS_DISSOLVED, CITY, None)
    return [
        city, dongda, caugiay, school, hospital, teacher, colleague, nurse,
        # Their units handed to the city first: a federation with units under it stays.
        school_july, hospital_july,
        unit_moved(dongda, DISTRICTS_DISSOLVED, CITY, DONGDA, status="dissolved"),
        unit_moved(caugiay, DISTRICTS_DISSOLVED, CITY, CAUGIAY, status="dissolved"),
        lang, nghiado,
        unit_moved(school_july, WARDS_FOUNDED, WARD_LANG, WARD_LANG),
        unit_moved(hospital_july, WARDS_FOUNDED, WARD_NGHIADO, WARD_NGHIADO),
    ]


def org_events(payloads: Iterable[EventData], source: str = "/thidua/registration",
               now: datetime | None = None) -> list[CloudEvent]:
    """Envelopes as registration gives them: the district is the unit's own."""
    now = now or datetime.now(UTC)
    return [new_event(p, source=source, district=getattr(p, "district_id", None), time=now)
            for p in payloads]


async def publish_org_events(bootstrap_servers: str, events: Sequence[CloudEvent]) -> None:
    """Send the events keyed as the contracts say, and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(event.data.topic.name, encode_event(event),
                                    key=event.partition_key().encode(),
                                    headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())])
                for event in events]
        for acknowledged in sent:
            await acknowledged
    finally:
        await producer.stop()


# What a repeated recording (a stack started again on the same database) answers for a step
# already recorded.
_ALREADY_RECORDED = {"unit_exists", "member_exists", "change_not_after_latest"}


def directory_commands(payloads: Iterable[EventData]) -> list[tuple[str, dict]]:
    """The registration commands (path, JSON body) that record these org events' states."""
    commands: list[tuple[str, dict]] = []
    for p in payloads:
        state = p.model_dump(mode="json")
        if isinstance(p, UnitUpdated):
            body = {"effective_from": state["effective_from"]}
            body |= {name: state[name] for name in p.changed}
            commands.append((f"/units/{p.unit_id}/changes", body))
        elif isinstance(p, UnitRegistered):
            commands.append(("/units", {name: state[name] for name in (
                "unit_id", "name", "kind", "parent_id", "effective_from", "district_id",
                "sector", "member_count", "direct_worker_count")}))
        elif isinstance(p, MemberUpdated):
            body = {"effective_from": state["effective_from"]}
            body |= {name: state[name] for name in p.changed}
            commands.append((f"/members/{p.member_id}/changes", body))
        elif isinstance(p, MemberRegistered):
            commands.append(("/members", {name: state[name] for name in (
                "member_id", "unit_id", "full_name", "gender", "direct_worker",
                "union_officer", "job_title", "effective_from")}))
    return commands


async def record_directory(client: httpx.AsyncClient, headers: dict[str, str],
                           payloads: Iterable[EventData]) -> int:
    """Record the org states through registration's commands (`client` is registration's),
    one after the other; a step already recorded is skipped. Returns the steps recorded."""
    recorded = 0
    for path, body in directory_commands(payloads):
        answer = await client.post(path, json=body, headers=headers)
        if answer.status_code == 201:
            recorded += 1
            continue
        codes = {e.get("code") for e in answer.json().get("errors", [])} if (
            answer.headers.get("content-type", "").startswith("application/problem+json")) else set()
        if answer.status_code == 409 and codes <= _ALREADY_RECORDED and codes:
            continue
        raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text}")
    return recorded
