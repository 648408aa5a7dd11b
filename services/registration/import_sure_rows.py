"""Rows of an imported file that surely pass, accepted without the commands' models.

A precompiled check per file kind accepts a row only when every field passes the command's
rules as its pydantic model states them, and then returns the model's values. A million rows
through the model cost most of a file's reading time; a row the plain check does not accept
goes through the model (`import_rows.py`), so a bad row's report (column, code, reason) is the
model's own, word for word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from services.runtime.identifiers import ID_PATTERN

from . import org_domain as domain

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ID = re.compile(ID_PATTERN.removeprefix("^").removesuffix("$")).fullmatch
_MAX_NAME = 300
_KINDS = frozenset(domain.UnitKind.__args__)
_SECTORS = frozenset(domain.Sector.__args__)
_MEMBER_GENDERS = frozenset({"female", "male", "other"})


def day_of(text: str, days: dict[str, date]) -> date | None:
    """The calendar day `domain._calendar_date` would make of ISO text (None: let it say why);
    a file names few distinct days, so each is parsed once."""
    day = days.get(text)
    if day is None:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        if not domain.EARLIEST <= day <= domain.LATEST or not ISO_DATE.fullmatch(text):
            return None
        days[text] = day
    return day


def is_name(value: Any) -> bool:
    return value.__class__ is str and 0 < len(value) <= _MAX_NAME


def is_identifier(value: Any) -> bool:
    return value.__class__ is str and _ID(value) is not None


def _count_ok(value: Any) -> bool:
    return value.__class__ is int and 0 <= value <= domain.MAX_COUNT


def members_surely(days: dict[str, date],
                   fields: frozenset[str]) -> Callable[[dict[str, Any]], tuple | None]:
    """The plain check of a members row whose known columns are `fields`."""

    def surely(f: dict[str, Any]) -> tuple | None:
        member_id, unit_id = f.get("member_id"), f.get("unit_id")
        name, gender, job = f.get("full_name"), f.get("gender"), f.get("job_title")
        direct, officer = f.get("direct_worker", False), f.get("union_officer", False)
        when = f.get("effective_from")
        if not (is_identifier(member_id) and is_identifier(unit_id) and is_name(name)
                and gender in _MEMBER_GENDERS and (job is None or is_name(job))
                and direct.__class__ is bool and officer.__class__ is bool
                and when.__class__ is str and f.keys() <= fields):
            return None
        day = day_of(when, days)
        if day is None:
            return None
        return (member_id, unit_id, name, gender, direct, officer, job, day)

    return surely


def units_surely(days: dict[str, date],
                 fields: frozenset[str]) -> Callable[[dict[str, Any]], tuple | None]:
    """The plain check of a units row whose known columns are `fields`."""

    def surely(f: dict[str, Any]) -> tuple | None:
        unit_id, name, kind = f.get("unit_id"), f.get("name"), f.get("kind")
        parent, district = f.get("parent_id"), f.get("district_id")
        sector = f.get("sector", "other")
        members, workers = f.get("member_count", 0), f.get("direct_worker_count", 0)
        when = f.get("effective_from")
        if not (is_identifier(unit_id) and is_name(name) and kind in _KINDS
                and (parent is None or is_identifier(parent))
                and (district is None or is_identifier(district))
                and sector in _SECTORS and _count_ok(members) and _count_ok(workers)
                and when.__class__ is str and f.keys() <= fields):
            return None
        day = day_of(when, days)
        if day is None:
            return None
        return (unit_id, name, kind, parent, district, sector, members, workers, day)

    return surely
