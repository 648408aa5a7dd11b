"""Rows as the column arrays `unnest` takes: how a batch becomes one statement."""

from __future__ import annotations

from collections.abc import Sequence


def columns(rows: Sequence[tuple], width: int) -> list[list]:
    """Rows as the column arrays `unnest` takes (empty columns when there are no rows)."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
