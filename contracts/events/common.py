"""Vocabulary shared by several event families (values are the English names of GLOSSARY.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import Field, PlainSerializer, WithJsonSchema

Level = Literal["grassroots", "district", "city", "national"]
"""Recognition or award level, lowest first (cơ sở → quận/huyện → Thành phố → toàn quốc)."""
LEVELS: tuple[Level, ...] = get_args(Level)

Grade = Literal["A", "B", "C"]
"""Grade a review council gives an accepted initiative (giải A, B, C)."""
GRADES: tuple[Grade, ...] = get_args(Grade)

SubjectKind = Literal["unit", "member"]
"""Whether a score, title or award belongs to a collective (unit) or an individual (member)."""

Title = Literal[
    "good_worker",
    "advanced_labourer",
    "grassroots_emulation_fighter",
    "provincial_emulation_fighter",
    "national_emulation_fighter",
    "advanced_collective",
    "excellent_collective",
    "creative_labour",
    "good_at_work_and_home",
    "good_deeds",
    "outstanding_officer",
    "exemplary_family",
    "emulation_flag",
    "certificate_of_merit",
]
"""Emulation titles (danh hiệu) and collective awards."""
TITLES: tuple[Title, ...] = get_args(Title)

PhaseKind = Literal["regular", "peak"]
"""A regular phase (đợt 1: 1/1–30/6) or a peak phase (đợt cao điểm, e.g. 90 days before 28/7)."""

UnitKind = Literal[
    "confederation",
    "city_federation",
    "district_federation",
    "sector_union",
    "upper_level_union",
    "grassroots_union",
]
"""Rank of a union in the tree; `upper_level_union` covers ward/commune and zone unions (2025)."""

Sector = Literal["enterprise", "administration", "education", "health", "other"]
"""Sector block (khối doanh nghiệp / hành chính sự nghiệp / giáo dục / y tế)."""

# Points are exact decimals so totals are the same however often a consumer replays them;
# on the wire they are JSON strings such as "12.5" (readers also accept JSON numbers).
Points = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "examples": ["12.5"]},
        mode="serialization",
    ),
]

VND_MAX = 10**15
"""A thousand trillion đồng: far above any real benefit or work (the seeds' whole 90-day Hanoi
peak was 9 × 10¹¹), and thousands of amounts still sum inside PostgreSQL's `bigint`."""

Vnd = Annotated[int, Field(ge=0, le=VND_MAX)]
"""An amount of Vietnamese đồng: whole VND, never negative, at most `VND_MAX`."""
