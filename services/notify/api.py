"""Notify's HTTP queries: a member's in-app inbox."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from . import repository

router = APIRouter(tags=["inbox"])


@router.get("/members/{member_id}/notifications")
async def member_notifications(
    member_id: str, request: Request, limit: int = Query(50, ge=1, le=500)
) -> list[dict]:
    return await repository.notifications_of(request.app.state.runtime.pool, member_id, limit)
