-- Clusters (cụm thi đua): units of one organiser grouped for a year. A unit sits in at most
-- one cluster of an organiser in a year (the unique index, also under concurrent commands).
CREATE TABLE clusters (
    cluster_id        text PRIMARY KEY,
    name              text NOT NULL,
    organizer_unit_id text NOT NULL,
    year              integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    effective_from    date NOT NULL,
    member_unit_ids   text[] NOT NULL,
    formed_at         timestamptz NOT NULL,
    event_id          text NOT NULL,
    formed_by         jsonb NOT NULL
);
CREATE INDEX clusters_by_organizer ON clusters (organizer_unit_id, year, cluster_id);
CREATE INDEX clusters_by_year ON clusters (year, cluster_id);

CREATE TABLE cluster_units (
    cluster_id        text NOT NULL REFERENCES clusters (cluster_id),
    unit_id           text NOT NULL,
    organizer_unit_id text NOT NULL,
    year              integer NOT NULL,
    PRIMARY KEY (cluster_id, unit_id),
    UNIQUE (organizer_unit_id, year, unit_id)
);
CREATE INDEX cluster_units_by_unit ON cluster_units (unit_id, year);
