"""Commands' answers: the bytes a command's `work` returns to `services.runtime.command_runs`,
which keeps them under the caller's `Idempotency-Key` and replays them on a retry."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Recorded(BaseModel):
    """What a participation command recorded: its id and the events it emitted."""

    id: str = Field(description="The registration's or pledge's id.")
    event_ids: list[str] = Field(description="Ids of the events emitted (one per signing unit "
                                             "for a pledge).")
    correlation_id: str


def recorded(item_id: str, events: list) -> bytes:
    return to_json(Recorded(id=item_id, event_ids=[e.id for e in events],
                            correlation_id=events[0].correlationid))


def to_json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)
