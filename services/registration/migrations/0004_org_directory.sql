-- The org directory's source of truth: units and members, each with dated states.
-- `units` / `members` hold one row per natural key (who recorded it first); `unit_states` /
-- `member_states` one row per (id, effective_from) holding the full state from that date, with
-- `valid` = [effective_from, next effective_from), open (upper bound null) for the latest.
-- A change from D closes the open period at D and opens a new one; the exclusion constraints
-- refuse two states of one id on any day. btree_gist is installed by runtime migration 0003.
CREATE TABLE units (
    unit_id       text PRIMARY KEY,
    registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE unit_states (
    unit_id             text NOT NULL REFERENCES units (unit_id),
    effective_from      date NOT NULL,
    valid               daterange NOT NULL CHECK (lower(valid) = effective_from),
    parent_id           text REFERENCES units (unit_id),
    name                text NOT NULL,
    kind                text NOT NULL,
    district_id         text,
    sector              text NOT NULL,
    member_count        integer NOT NULL CHECK (member_count >= 0),
    direct_worker_count integer NOT NULL CHECK (direct_worker_count BETWEEN 0 AND member_count),
    status              text NOT NULL CHECK (status IN ('active', 'dissolved')),
    event_id            text NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    recorded_by         jsonb NOT NULL,
    PRIMARY KEY (unit_id, effective_from),
    CONSTRAINT unit_states_one_state_a_day EXCLUDE USING gist (unit_id WITH =, valid WITH &&)
);
-- A unit's children on a date.
CREATE INDEX unit_states_children ON unit_states USING gist (parent_id, valid);

CREATE TABLE members (
    member_id     text PRIMARY KEY,
    registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE member_states (
    member_id      text NOT NULL REFERENCES members (member_id),
    effective_from date NOT NULL,
    valid          daterange NOT NULL CHECK (lower(valid) = effective_from),
    unit_id        text NOT NULL REFERENCES units (unit_id),
    full_name      text NOT NULL,
    gender         text NOT NULL,
    direct_worker  boolean NOT NULL,
    union_officer  boolean NOT NULL,
    job_title      text,
    status         text NOT NULL CHECK (status IN ('active', 'left')),
    event_id       text NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    recorded_by    jsonb NOT NULL,
    PRIMARY KEY (member_id, effective_from),
    CONSTRAINT member_states_one_state_a_day EXCLUDE USING gist (member_id WITH =, valid WITH &&)
);
-- A unit's members on a date.
CREATE INDEX member_states_of_unit ON member_states USING gist (unit_id, valid);
