"""Awards' HTTP queries."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from . import repository

router = APIRouter(tags=["eligibility"])


@router.get("/eligibility/{subject_kind}/{subject_id}")
async def subject_eligibility(
    subject_kind: Literal["unit", "member"], subject_id: str, request: Request
) -> list[dict]:
    return await repository.eligibility_of(request.app.state.runtime.pool, subject_kind, subject_id)
