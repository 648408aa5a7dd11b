-- Bulk imports of units and members: one row per uploaded file, its progress and its report.
-- The rows themselves go through a temporary staging table of the importing connection and
-- land in `unit_states` / `member_states` with their outbox events in one transaction.
CREATE TABLE import_jobs (
    job_id         text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('units', 'members')),
    format         text NOT NULL CHECK (format IN ('csv', 'xlsx')),
    on_error       text NOT NULL CHECK (on_error IN ('refuse', 'skip')),
    status         text NOT NULL CHECK (status IN ('queued', 'reading', 'checking', 'importing',
                                                   'succeeded', 'refused', 'failed')),
    filename       text,
    size_bytes     bigint NOT NULL CHECK (size_bytes >= 0),
    -- An estimate (line count) while the file is read, exact once it has been.
    rows_total     integer,
    rows_read      integer NOT NULL DEFAULT 0,
    rows_bad       integer NOT NULL DEFAULT 0,
    registered     integer NOT NULL DEFAULT 0,
    updated        integer NOT NULL DEFAULT 0,
    unchanged      integer NOT NULL DEFAULT 0,
    -- The first errors (row, column, code, reason), at most `import_max_errors` of them.
    errors         jsonb NOT NULL DEFAULT '[]',
    failure        text,
    scope_unit_id  text,
    requested_by   jsonb NOT NULL,
    correlation_id text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Touched while the job works: a running job whose heartbeat stopped was interrupted.
    heartbeat_at   timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
CREATE INDEX import_jobs_by_creation ON import_jobs (created_at DESC, job_id DESC);
CREATE INDEX import_jobs_by_scope ON import_jobs (scope_unit_id, created_at DESC);
