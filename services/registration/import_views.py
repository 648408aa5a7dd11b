"""An import job as the API shows it: its status, progress, counts and the per-row error
report; a job whose process stopped shows as `failed`, interrupted."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from . import import_jobs as jobs
from .import_rows import Kind


class RowProblem(BaseModel):
    row: int = Field(description="Spreadsheet row: 1 is the header, 2 the first data row.")
    column: str | None = Field(description="The column at fault; null for the whole row.")
    code: str = Field(description="Machine-readable reason, e.g. `unit_not_found`.")
    reason: str


class ImportJob(BaseModel):
    job_id: str
    kind: Kind
    format: Literal["csv", "xlsx"]
    on_error: Literal["refuse", "skip"]
    status: Literal["queued", "reading", "checking", "importing", "succeeded", "refused",
                    "failed"] = Field(
        description="`succeeded`: committed (minus `rows_bad` under `skip`); `refused`: bad "
                    "rows (or an unreadable file), nothing imported; `failed`: nothing "
                    "imported, see `failure`.")
    filename: str | None
    size_bytes: int
    rows_total: int | None = Field(description="An estimate until the file has been read, then "
                                               "the data rows it holds (blank rows left out).")
    rows_read: int = Field(description="Data rows read and checked so far.")
    rows_bad: int
    registered: int = Field(description="Units or members registered (one event each).")
    updated: int = Field(description="Existing ones whose new dated state was recorded.")
    unchanged: int = Field(description="Rows whose state already held: no event.")
    errors: list[RowProblem] = Field(description="The first errors, by row.")
    failure: str | None
    created_at: datetime
    finished_at: datetime | None


class ImportJobPage(BaseModel):
    items: list[ImportJob]
    next_cursor: str | None


def job_view(row: dict[str, Any], stale_after_s: float, now: datetime) -> ImportJob:
    view = {name: row[name] for name in ImportJob.model_fields}
    errors = row["errors"]
    view["errors"] = errors if isinstance(errors, list) else json.loads(errors)
    if row["status"] in jobs.RUNNING and (now - row["heartbeat_at"]).total_seconds() > stale_after_s:
        view["status"], view["failure"] = "failed", (
            "interrupted: the process importing it stopped; nothing was imported: upload the "
            "file again")
    return ImportJob(**view)
