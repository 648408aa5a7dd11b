"""Query parameters every scoring listing shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

After = Annotated[int, Query(ge=0, le=10**9, description="Cursor: the last `position` seen.")]
Limit = Annotated[int, Query(ge=1, le=500)]
