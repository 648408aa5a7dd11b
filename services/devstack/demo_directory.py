"""The demo's slice of the Hanoi union tree, through the 2025 reorganisation, as org events.

Two district federations (Đống Đa, Cầu Giấy) with one grassroots union each, from 2020; on
1 Jul 2025 the district federations are dissolved and their grassroots unions handed to the city
federation; on 1 Oct 2025 ward unions are founded and take them over (DOMAIN-RULES.md, "The
2025 reorganisation"). So the demo school was in Đống Đa's subtree until 30 Jun 2025 and is in
phường Láng's today.

Until registration records the directory itself, the local stack publishes these events on
`thidua.org.v1` as registration would, and every service's directory projection takes them in.
Tests build their trees the same way (`publish_org_events`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from aiokafka import AIOKafkaProducer

from contracts import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, encode_event, new_event
from contracts.events.base import Actor, EventData
from contracts.events.org import MemberRegistered, UnitRegistered, UnitUpdated

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


def _unit(unit_id: str, name: str, kind: str, parent: str | None, district: str | None,
          sector: str, members: int, direct: int, on: date = FOUNDED) -> UnitRegistered:
    return UnitRegistered(
        unit_id=unit_id, name=name, kind=kind, parent_id=parent, effective_from=on,
        district_id=district, sector=sector, member_count=members,
        direct_worker_count=direct, actor=RECORDER)


def _moved(before: UnitRegistered | UnitUpdated, on: date, parent: str | None, district: str | None,
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
    city = _unit(CITY, "LĐLĐ Thành phố Hà Nội", "city_federation", None, None, "other",
                 1_050_000, 420_000)
    dongda = _unit(DONGDA, "LĐLĐ quận Đống Đa", "district_federation", CITY, DONGDA, "other",
                   62_000, 18_000)
    caugiay = _unit(CAUGIAY, "LĐLĐ quận Cầu Giấy", "district_federation", CITY, CAUGIAY,
                    "other", 48_000, 12_000)
    school = _unit(SCHOOL, "Công đoàn Trường THCS Láng Thượng", "grassroots_union", DONGDA,
                   DONGDA, "education", 62, 0)
    hospital = _unit(HOSPITAL, "Công đoàn Bệnh viện E", "grassroots_union", CAUGIAY, CAUGIAY,
                     "health", 1_450, 0)
    lang = _unit(WARD_LANG, "Công đoàn phường Láng", "upper_level_union", CITY, WARD_LANG,
                 "other", 9_800, 2_100, on=WARDS_FOUNDED)
    nghiado = _unit(WARD_NGHIADO, "Công đoàn phường Nghĩa Đô", "upper_level_union", CITY,
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
    school_july = _moved(school, DISTRICTS_DISSOLVED, CITY, None)
    hospital_july = _moved(hospital, DISTRICTS_DISSOLVED, CITY, None)
    return [
        city, dongda, caugiay, school, hospital, teacher, colleague, nurse,
        _moved(dongda, DISTRICTS_DISSOLVED, CITY, DONGDA, status="dissolved"),
        _moved(caugiay, DISTRICTS_DISSOLVED, CITY, CAUGIAY, status="dissolved"),
        school_july, hospital_july, lang, nghiado,
        _moved(school_july, WARDS_FOUNDED, WARD_LANG, WARD_LANG),
        _moved(hospital_july, WARDS_FOUNDED, WARD_NGHIADO, WARD_NGHIADO),
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
