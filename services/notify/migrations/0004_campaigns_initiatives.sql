-- What notify needs to know of campaigns to say who hears of a phase close or of final
-- standings (every unit under the organizer) and to name them: from
-- `thidua.campaign.launched.v1`. `phases` maps each phase id to its name.
CREATE TABLE campaigns (
    campaign_id       text PRIMARY KEY,
    organizer_unit_id text NOT NULL,
    theme             text NOT NULL,
    year              integer NOT NULL,
    phases            jsonb NOT NULL,
    recorded_at       timestamptz NOT NULL
);

-- Initiatives as submitted: the review event names neither the authors nor the title, and the
-- authors are the first to hear of the council's decision.
CREATE TABLE initiatives (
    initiative_id text PRIMARY KEY,
    unit_id       text NOT NULL,
    title         text NOT NULL,
    author_ids    text[] NOT NULL,
    submitted_at  timestamptz NOT NULL
);
