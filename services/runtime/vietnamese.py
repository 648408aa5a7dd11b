"""Amounts and dates as Vietnamese readers write them: `120.000.000 ₫`, `05/07/2025`.

Shared by notify's templates and the demo's report, so both print a figure the same way.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

VIETNAM = timezone(timedelta(hours=7), "ICT")


def vnd(amount: int | float | Decimal | str) -> str:
    """`120000000` → `120.000.000 ₫` (dots group thousands, a comma before decimals)."""
    value = Decimal(str(amount))
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole = int(value)
    fraction = value - whole
    grouped = f"{whole:,}".replace(",", ".")
    if fraction:
        decimals = f"{fraction:.2f}"[2:].rstrip("0")
        grouped += "," + decimals
    return f"{sign}{grouped}\u00a0₫"


def number(value: int | float | Decimal | str) -> str:
    """`1234.5` → `1.234,5`: Vietnamese digit grouping, trailing zeros dropped."""
    value = Decimal(str(value))
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole = int(value)
    grouped = f"{whole:,}".replace(",", ".")
    fraction = value - whole
    if fraction:
        grouped += "," + f"{fraction:f}"[2:].rstrip("0")
    return sign + grouped


def vietnam_date(moment: datetime) -> date:
    """The calendar day in Vietnam at that moment."""
    return moment.astimezone(VIETNAM).date()


def vn_date(moment: date | datetime | str) -> str:
    """A date as written in Vietnam, dd/mm/yyyy; a moment is taken on Vietnamese time."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(VIETNAM)
        moment = moment.date()
    return moment.strftime("%d/%m/%Y")
