"""Scoring's HTTP queries."""

from __future__ import annotations

from fastapi import APIRouter, Request

from . import repository

router = APIRouter(tags=["scores"])


@router.get("/units/{unit_id}/scores")
async def unit_scores(unit_id: str, request: Request) -> list[dict]:
    return await repository.scores_of_unit(request.app.state.runtime.pool, unit_id)
