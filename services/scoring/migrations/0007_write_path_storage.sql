-- Storage for the write path: every applied event writes ~2 ledger lines and moves ~1 total.
--
-- The ledger is read per subject in entry order (`GET /scores/{kind}/{id}/entries`): one index
-- serves that read. The index by source event, which nothing reads, and the one led by
-- campaign, which that read could not use, are dropped: each was maintained on every line.
DROP INDEX IF EXISTS score_entries_by_source;
DROP INDEX IF EXISTS score_entries_by_subject;
CREATE INDEX score_entries_by_subject_entry ON score_entries (subject_kind, subject_id, entry_id);

-- Totals and facts are updated in place batch after batch (a unit's total moves with each of
-- its events; a review or a result replaces a fact's state). Room left on each page lets such
-- an update stay on its page without touching the indexes (a HOT update); applies to pages
-- written from now on.
ALTER TABLE scores SET (fillfactor = 80);
ALTER TABLE facts SET (fillfactor = 85);
ALTER TABLE fact_points SET (fillfactor = 85);
