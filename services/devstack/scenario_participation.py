"""Who takes part: the emulation clusters by sector block, the units' and members' emulation
registrations, and the pledges signed at each cluster's conference with what each unit reports
against them. Pure data: the same every run, so the outcome can be worked out beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .demo_directory import CITY, HOSPITAL, SCHOOL

# Cụm thi đua of the city federation for the year, one per sector block (5 to 11 units each).
CLUSTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "giao-duc": ("Cụm thi đua khối giáo dục", (
        "u-dd-th-kimlien", "u-dd-thcs-nguyentruongto", "u-dd-mn-vanchuong", SCHOOL,
        "u-hd-thpt-lequydon", "u-hd-th-vanyen", "u-md-thcs-huongson", "u-md-th-dainghia")),
    "y-te-hanh-chinh": ("Cụm thi đua khối y tế – hành chính sự nghiệp", (
        "u-dd-bv-dongda", "u-dd-ttyt", "u-hd-bv-hadong", "u-md-ttyt", HOSPITAL,
        "u-dd-ubnd-langha", "u-hd-ubnd-vanphuc", "u-md-bql-chuahuong")),
    "doanh-nghiep": ("Cụm thi đua khối doanh nghiệp", (
        "u-dd-ct-inhanoi", "u-dd-xn-moitruong", "u-hd-ct-luavanphuc", "u-hd-ct-cokhi",
        "u-hd-xn-thoatnuoc", "u-md-htx-phuluute", "u-md-ct-maymyduc", "u-md-ct-vlxd")),
}


def cluster_id(year: int, key: str) -> str:
    return f"cum-{year}-{key}"


def cluster_bodies(year: int) -> list[dict]:
    """`POST /clusters`, organised by the city federation from 1 January."""
    return [{"cluster_id": cluster_id(year, key), "name": f"{name} năm {year}",
             "organizer_unit_id": CITY, "year": year, "member_unit_ids": list(units)}
            for key, (name, units) in CLUSTERS.items()]


def unit_registrations(campaign_id: str, phase_id: str) -> list[dict]:
    """Every unit of a cluster registers for the emulation flag (`POST /registrations`)."""
    return [{"registration_id": f"dk-{phase_id}-{unit}", "campaign_id": campaign_id,
             "phase_id": phase_id, "subject_kind": "unit", "subject_id": unit,
             "titles": ["emulation_flag"], "target_level": "city"}
            for _, units in CLUSTERS.values() for unit in units]


def member_registration(campaign_id: str, phase_id: str, member_id: str,
                        direct_worker: bool) -> dict:
    titles = ["good_worker", "creative_labour"] if direct_worker else ["creative_labour"]
    return {"registration_id": f"dk-{phase_id}-{member_id}", "campaign_id": campaign_id,
            "phase_id": phase_id, "subject_kind": "member", "subject_id": member_id,
            "titles": titles, "target_level": "district"}


@dataclass(frozen=True)
class Target:
    target_id: str
    description: str
    value: Decimal
    unit_of_measure: str


TARGETS = (
    Target("sang-kien", "Số sáng kiến, cải tiến kỹ thuật được hội đồng công nhận", Decimal(2),
           "sáng kiến"),
    Target("boi-duong", "Số đoàn viên được bồi dưỡng kỹ năng, nghiệp vụ", Decimal(20), "người"),
)


def pledge_id(phase_id: str, key: str) -> str:
    return f"gu-{phase_id}-{key}"


def pledge_bodies(year: int, campaign_id: str, phase_id: str) -> list[dict]:
    """One pledge per cluster, signed by all its units (`POST /pledges`)."""
    return [{"pledge_id": pledge_id(phase_id, key), "campaign_id": campaign_id,
             "phase_id": phase_id, "cluster_id": cluster_id(year, key),
             "targets": [{"target_id": t.target_id, "description": t.description,
                          "target_value": str(t.value), "unit_of_measure": t.unit_of_measure}
                         for t in TARGETS]}
            for key in CLUSTERS]


def achieved(unit_id: str) -> dict[str, Decimal]:
    """What each unit reports: every unit its own figures, some short of a target. Fixed by
    the unit's place in its cluster so every run reports the same."""
    for _, units in CLUSTERS.values():
        if unit_id in units:
            i = units.index(unit_id)
            return {"sang-kien": Decimal((i * 5) % 4), "boi-duong": Decimal(12 + (i * 7) % 15)}
    raise KeyError(unit_id)


def result_bodies(phase_id: str) -> list[tuple[str, dict]]:
    """(pledge id, body of `POST /pledges/{id}/results`) for every signing unit."""
    return [(pledge_id(phase_id, key),
             {"unit_id": unit, "results": [{"target_id": t, "achieved_value": str(v)}
                                           for t, v in achieved(unit).items()]})
            for key, (_, units) in CLUSTERS.items() for unit in units]


def targets_met(unit_id: str) -> int:
    figures = achieved(unit_id)
    return sum(1 for t in TARGETS if figures[t.target_id] >= t.value)
