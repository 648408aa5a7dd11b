-- Duplicate detection asks for the few earlier titles nearest a submission's. A GIN trigram
-- index can only list every title sharing enough trigrams, which the query then scores and
-- sorts: with many look-alike titles (a campaign's template title submitted by hundreds of
-- unions) each submission scored them all. A GiST trigram index returns titles nearest first
-- (`<->`, 1 − similarity), so the search stops after the ten it keeps.
CREATE INDEX initiatives_title_nearest ON initiatives USING gist (title_key public.gist_trgm_ops);
DROP INDEX initiatives_title_trigrams;
