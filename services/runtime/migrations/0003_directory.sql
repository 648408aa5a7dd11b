-- The directory: the union tree, its members and its clusters as `thidua.org.v1` tells them,
-- projected into every service's schema (services/runtime/directory). Units and members are
-- effective-dated: one row per (id, effective_from) holding the full state from that date, and
-- `valid` = [effective_from, the next effective_from of the same id), so "on date D" is
-- `valid @> D`. The projection recomputes `valid` in the transaction that writes a state.

-- btree_gist gives text a GiST operator class, for "one state per id on any date" below. It is
-- installed once per database, in public, while every service schema runs this file, each
-- under its own migration lock: this transaction-level lock makes concurrent installs wait for
-- the first one to commit instead of failing on its catalogue row.
SELECT pg_advisory_xact_lock(hashtext('thidua-create-extension-btree_gist'));
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;

CREATE TABLE directory_units (
    unit_id             text NOT NULL,
    effective_from      date NOT NULL,
    valid               daterange NOT NULL,
    parent_id           text,
    name                text NOT NULL,
    kind                text NOT NULL,
    district_id         text,
    sector              text NOT NULL,
    member_count        integer NOT NULL,
    direct_worker_count integer NOT NULL,
    status              text NOT NULL,
    -- The event's `time`: of two events for one (unit, date), the later recorded one holds.
    recorded_at         timestamptz NOT NULL,
    PRIMARY KEY (unit_id, effective_from),
    -- Deferred: a batch inserts a state before it shortens its neighbour's range.
    CONSTRAINT directory_units_one_state_a_day
        EXCLUDE USING gist (unit_id WITH =, valid WITH &&) DEFERRABLE INITIALLY DEFERRED
);
-- A unit's children on a date (subtree walks downward).
CREATE INDEX directory_units_children ON directory_units USING gist (parent_id, valid);

CREATE TABLE directory_members (
    member_id       text NOT NULL,
    effective_from  date NOT NULL,
    valid           daterange NOT NULL,
    unit_id         text NOT NULL,
    full_name       text NOT NULL,
    gender          text NOT NULL,
    direct_worker   boolean NOT NULL,
    union_officer   boolean NOT NULL,
    job_title       text,
    status          text NOT NULL,
    recorded_at     timestamptz NOT NULL,
    PRIMARY KEY (member_id, effective_from),
    CONSTRAINT directory_members_one_state_a_day
        EXCLUDE USING gist (member_id WITH =, valid WITH &&) DEFERRABLE INITIALLY DEFERRED
);
-- A unit's members on a date.
CREATE INDEX directory_members_of_unit ON directory_members USING gist (unit_id, valid);

CREATE TABLE directory_clusters (
    cluster_id        text PRIMARY KEY,
    name              text NOT NULL,
    organizer_unit_id text NOT NULL,
    member_unit_ids   text[] NOT NULL,
    year              integer NOT NULL,
    effective_from    date NOT NULL,
    recorded_at       timestamptz NOT NULL
);
-- The clusters a unit belongs to (`member_unit_ids @> ARRAY[unit]`), then filtered by year.
CREATE INDEX directory_clusters_by_member ON directory_clusters USING gin (member_unit_ids);
CREATE INDEX directory_clusters_by_year ON directory_clusters (year);
