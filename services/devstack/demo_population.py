"""The demo's population: three districts of Hanoi with their grassroots unions and members.

Đống Đa, Hà Đông and Mỹ Đức, as the seeds report them, each with schools, health, public
administration and enterprises (the four sector blocks), a few thousand members with Vietnamese
names — women, direct-production workers and union officers among them — and the 2025
reorganisation: the district federations dissolved on 1 Jul 2025, their grassroots unions handed
to the city federation, then to the new ward and commune unions from 1 Oct 2025 (DOMAIN-RULES.md).

Deterministic: the same seed gives the same people, so the demo's report reads the same on every
machine. Pure data; `demo_directory.record_directory` records the unit states through
registration's commands and the members travel as an import file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from contracts.events.base import EventData
from contracts.events.org import MemberRegistered, UnitRegistered

from .demo_directory import (
    CITY,
    DISTRICTS_DISSOLVED,
    DONGDA,
    FOUNDED,
    RECORDER,
    SCHOOL,
    WARDS_FOUNDED,
    unit_founded,
    unit_moved,
)

HADONG = "u-hadong"
MYDUC = "u-myduc"


@dataclass(frozen=True)
class Grassroots:
    unit_id: str
    name: str
    sector: str
    members: int
    direct_share: float  # of members, direct-production workers
    women_share: float
    ward: str  # the ward or commune union that takes it over on 1 Oct 2025
    job_titles: tuple[str, ...]


TEACHING = ("giáo viên", "giáo viên", "giáo viên", "nhân viên văn phòng", "kế toán")
CARE = ("bác sĩ", "điều dưỡng", "điều dưỡng", "kỹ thuật viên", "dược sĩ")
OFFICE = ("chuyên viên", "chuyên viên", "cán bộ địa chính", "văn thư")
FACTORY = ("công nhân may", "công nhân cơ khí", "công nhân dệt", "tổ trưởng sản xuất",
           "kỹ sư", "công nhân vận hành")
FARM = ("xã viên", "kỹ thuật viên nông nghiệp", "công nhân chế biến")

# Ward and commune unions from 1 Oct 2025 (upper_level_union), under the city federation.
WARDS = {
    "u-phuong-lang": ("Công đoàn phường Láng", DONGDA),
    "u-phuong-kimlien": ("Công đoàn phường Kim Liên", DONGDA),
    "u-phuong-hadong": ("Công đoàn phường Hà Đông", HADONG),
    "u-phuong-duongnoi": ("Công đoàn phường Dương Nội", HADONG),
    "u-xa-myduc": ("Công đoàn xã Mỹ Đức", MYDUC),
    "u-xa-huongson": ("Công đoàn xã Hương Sơn", MYDUC),
}

DISTRICTS = {
    DONGDA: "LĐLĐ quận Đống Đa",
    HADONG: "LĐLĐ quận Hà Đông",
    MYDUC: "LĐLĐ huyện Mỹ Đức",
}

GRASSROOTS: dict[str, tuple[Grassroots, ...]] = {
    DONGDA: (
        Grassroots("u-dd-th-kimlien", "Công đoàn Trường Tiểu học Kim Liên", "education", 58,
                   0.0, 0.86, "u-phuong-kimlien", TEACHING),
        Grassroots("u-dd-thcs-nguyentruongto", "Công đoàn Trường THCS Nguyễn Trường Tộ",
                   "education", 96, 0.0, 0.8, "u-phuong-kimlien", TEACHING),
        Grassroots("u-dd-mn-vanchuong", "Công đoàn Trường Mầm non Văn Chương", "education", 41,
                   0.0, 0.97, "u-phuong-kimlien", TEACHING),
        Grassroots("u-dd-bv-dongda", "Công đoàn Bệnh viện Đa khoa Đống Đa", "health", 240,
                   0.0, 0.7, "u-phuong-lang", CARE),
        Grassroots("u-dd-ttyt", "Công đoàn Trung tâm Y tế quận Đống Đa", "health", 88, 0.0,
                   0.74, "u-phuong-lang", CARE),
        Grassroots("u-dd-ubnd-langha", "Công đoàn cơ quan UBND phường Láng Hạ", "administration",
                   34, 0.0, 0.55, "u-phuong-lang", OFFICE),
        Grassroots("u-dd-ct-inhanoi", "Công đoàn Công ty CP In và Bao bì Đống Đa", "enterprise",
                   185, 0.78, 0.46, "u-phuong-lang", FACTORY),
        Grassroots("u-dd-xn-moitruong", "Công đoàn Xí nghiệp Môi trường đô thị Đống Đa",
                   "enterprise", 212, 0.88, 0.52, "u-phuong-kimlien", FACTORY),
    ),
    HADONG: (
        Grassroots("u-hd-thpt-lequydon", "Công đoàn Trường THPT Lê Quý Đôn – Hà Đông",
                   "education", 110, 0.0, 0.72, "u-phuong-hadong", TEACHING),
        Grassroots("u-hd-th-vanyen", "Công đoàn Trường Tiểu học Văn Yên", "education", 52, 0.0,
                   0.9, "u-phuong-hadong", TEACHING),
        Grassroots("u-hd-bv-hadong", "Công đoàn Bệnh viện Đa khoa Hà Đông", "health", 320, 0.0,
                   0.68, "u-phuong-hadong", CARE),
        Grassroots("u-hd-ct-luavanphuc", "Công đoàn Công ty CP Dệt lụa Vạn Phúc", "enterprise",
                   164, 0.84, 0.71, "u-phuong-duongnoi", FACTORY),
        Grassroots("u-hd-ct-cokhi", "Công đoàn Công ty TNHH Cơ khí chính xác Hà Đông",
                   "enterprise", 230, 0.9, 0.18, "u-phuong-duongnoi", FACTORY),
        Grassroots("u-hd-xn-thoatnuoc", "Công đoàn Xí nghiệp Thoát nước Hà Đông", "enterprise",
                   126, 0.86, 0.2, "u-phuong-duongnoi", FACTORY),
        Grassroots("u-hd-ubnd-vanphuc", "Công đoàn cơ quan UBND phường Vạn Phúc",
                   "administration", 29, 0.0, 0.5, "u-phuong-hadong", OFFICE),
    ),
    MYDUC: (
        Grassroots("u-md-thcs-huongson", "Công đoàn Trường THCS Hương Sơn", "education", 47,
                   0.0, 0.78, "u-xa-huongson", TEACHING),
        Grassroots("u-md-th-dainghia", "Công đoàn Trường Tiểu học Đại Nghĩa", "education", 39,
                   0.0, 0.88, "u-xa-myduc", TEACHING),
        Grassroots("u-md-ttyt", "Công đoàn Trung tâm Y tế huyện Mỹ Đức", "health", 135, 0.0,
                   0.66, "u-xa-myduc", CARE),
        Grassroots("u-md-bql-chuahuong", "Công đoàn Ban Quản lý khu di tích Chùa Hương",
                   "administration", 64, 0.3, 0.45, "u-xa-huongson", OFFICE),
        Grassroots("u-md-htx-phuluute", "Công đoàn Hợp tác xã Nông nghiệp Phù Lưu Tế",
                   "enterprise", 23, 0.95, 0.6, "u-xa-myduc", FARM),
        Grassroots("u-md-ct-maymyduc", "Công đoàn Công ty TNHH May Mỹ Đức", "enterprise", 410,
                   0.92, 0.83, "u-xa-myduc", FACTORY),
        Grassroots("u-md-ct-vlxd", "Công đoàn Công ty CP Vật liệu xây dựng Mỹ Đức",
                   "enterprise", 98, 0.9, 0.15, "u-xa-huongson", FACTORY),
    ),
}

# Family names by their share of the population; middle and given names by gender.
_FAMILY = (("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Hoàng", 5), ("Phan", 4),
           ("Vũ", 4), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 1), ("Ngô", 1), ("Dương", 1),
           ("Đào", 1), ("Đinh", 1))
_MIDDLE = {"female": ("Thị", "Thị", "Thu", "Ngọc", "Thanh", "Minh", "Hồng", "Phương"),
           "male": ("Văn", "Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Tuấn")}
_GIVEN = {"female": ("Lan", "Hương", "Hằng", "Mai", "Linh", "Hoa", "Thảo", "Trang", "Huyền",
                     "Yến", "Nga", "Thủy", "Vân", "Phương", "Hà", "Dung", "Loan", "Oanh"),
          "male": ("Anh", "Hùng", "Dũng", "Tuấn", "Nam", "Long", "Hải", "Sơn", "Quân", "Trung",
                   "Thắng", "Hiếu", "Phong", "Khoa", "Bình", "Cường", "Đạt", "Toàn")}


def vietnamese_name(rng: random.Random, gender: str) -> str:
    families, weights = zip(*_FAMILY, strict=True)
    family = rng.choices(families, weights)[0]
    return f"{family} {rng.choice(_MIDDLE[gender])} {rng.choice(_GIVEN[gender])}"


def population_units() -> list[EventData]:
    """The districts, their grassroots unions and the ward unions, with the 2025 moves; the
    city federation and Đống Đa themselves come from the demo directory, recorded first."""
    events: list[EventData] = []
    for district, name in DISTRICTS.items():
        size = sum(g.members for g in GRASSROOTS[district])
        if district != DONGDA:
            federation = unit_founded(district, name, "district_federation", CITY, district, "other",
                               size, sum(round(g.members * g.direct_share)
                                         for g in GRASSROOTS[district]))
            events.append(federation)
    founded: list[tuple[UnitRegistered, Grassroots]] = []
    for district, units in GRASSROOTS.items():
        for g in units:
            unit = unit_founded(g.unit_id, g.name, "grassroots_union", district, district, g.sector,
                         g.members, round(g.members * g.direct_share))
            founded.append((unit, g))
            events.append(unit)
    handed = [(unit_moved(unit, DISTRICTS_DISSOLVED, CITY, None), g) for unit, g in founded]
    events.extend(moved for moved, _ in handed)
    for district in (HADONG, MYDUC):  # Đống Đa's dissolution is in the demo directory
        federation = next(e for e in events if getattr(e, "unit_id", None) == district)
        events.append(unit_moved(federation, DISTRICTS_DISSOLVED, CITY, district, status="dissolved"))
    for ward, (name, district) in WARDS.items():
        if ward == "u-phuong-lang":
            continue  # founded by the demo directory
        members = sum(g.members for g in GRASSROOTS[district] if g.ward == ward)
        events.append(unit_founded(ward, name, "upper_level_union", CITY, ward, "other", members, 0,
                            on=WARDS_FOUNDED))
    events.extend(unit_moved(moved, WARDS_FOUNDED, g.ward, g.ward) for moved, g in handed)
    return events


@dataclass(frozen=True)
class MemberRow:
    member_id: str
    unit_id: str
    full_name: str
    gender: str
    direct_worker: bool
    union_officer: bool
    job_title: str
    effective_from: date = FOUNDED


def population_members(seed: int = 2025) -> list[MemberRow]:
    """Every grassroots union's members: the first of each is its union chair (an officer),
    then about one in fifteen is an officer; shares of women and direct workers as the unit's."""
    rng = random.Random(seed)
    rows: list[MemberRow] = []
    for units in GRASSROOTS.values():
        for g in units:
            prefix = "m-" + g.unit_id.removeprefix("u-")
            for n in range(1, g.members + 1):
                gender = "female" if rng.random() < g.women_share else "male"
                direct = rng.random() < g.direct_share
                job = rng.choice(g.job_titles)
                if direct and job in TEACHING + CARE + OFFICE:
                    job = g.job_titles[0]
                rows.append(MemberRow(
                    member_id=f"{prefix}-{n:04d}", unit_id=g.unit_id,
                    full_name=vietnamese_name(rng, gender), gender=gender, direct_worker=direct,
                    union_officer=n == 1 or rng.random() < 1 / 15,
                    job_title=("chủ tịch công đoàn, " + job) if n == 1 else job))
    return rows


def member_events(rows: list[MemberRow]) -> list[MemberRegistered]:
    return [MemberRegistered(**row.__dict__, actor=RECORDER) for row in rows]


def grassroots_of(district: str) -> tuple[str, ...]:
    ids = tuple(g.unit_id for g in GRASSROOTS[district])
    return (SCHOOL, *ids) if district == DONGDA else ids
