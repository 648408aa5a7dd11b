-- An e-mail's text and HTML are the same for every recipient of one notice in one language:
-- a phase close to 10,000 officials stored them 10,000 times (≈ 50 MB written in the batch's
-- transaction, then read back by the sender row by row). They are kept once, by a hash of
-- their content, and each delivery names them. Rows queued before (and digests, which differ
-- per member) keep their own bodies inline.
CREATE TABLE message_bodies (
    body_id    text PRIMARY KEY,  -- sha256 of the text and HTML parts
    text_body  text NOT NULL,
    html_body  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE deliveries
    ADD COLUMN body_id text REFERENCES message_bodies (body_id),
    ALTER COLUMN text_body DROP NOT NULL,
    ALTER COLUMN html_body DROP NOT NULL,
    ADD CONSTRAINT deliveries_one_body CHECK (
        (body_id IS NULL) = (text_body IS NOT NULL AND html_body IS NOT NULL));
