"""Scoring's HTTP queries, gathered in the order the README lists them: a subject's scores
and why, standings and what-if, initiative totals, the close barrier."""

from __future__ import annotations

from fastapi import APIRouter

from . import barrier_routes, score_routes, standings_routes, totals_routes

router = APIRouter()
for part in (score_routes, standings_routes, totals_routes, barrier_routes):
    router.include_router(part.router)
