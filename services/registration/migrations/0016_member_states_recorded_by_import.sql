-- A member state recorded by a bulk import names its import job instead of repeating the
-- importer's actor on each row: the actor's jsonb (about 120 bytes) was 40% of a state row and
-- of the WAL a million-member import writes, the same value a million times. The job keeps it
-- once (`import_jobs.requested_by`), and jobs are never removed. Who recorded a state:
--     coalesce(s.recorded_by,
--              (SELECT j.requested_by FROM import_jobs j WHERE j.job_id = s.import_job_id))
-- A state names exactly one of the two.
ALTER TABLE member_states
    ADD COLUMN import_job_id text,
    ALTER COLUMN recorded_by DROP NOT NULL,
    ADD CONSTRAINT member_states_recorded_by_someone
        CHECK ((recorded_by IS NULL) <> (import_job_id IS NULL));

-- `valid` is computed from the bounds instead of written by every statement (no index or
-- constraint uses it; the chain's constraints are on `effective_from` and `valid_until`,
-- migration 0014): when read, on PostgreSQL 18 and later (a virtual column, no bytes in the
-- row); stored on earlier servers, which have no virtual columns (the deployment's
-- PostgreSQL 17).
ALTER TABLE member_states DROP COLUMN valid;
DO $$
BEGIN
    EXECUTE format(
        'ALTER TABLE member_states ADD COLUMN valid daterange '
        'GENERATED ALWAYS AS (daterange(effective_from, valid_until)) %s',
        CASE WHEN current_setting('server_version_num')::int >= 180000 THEN 'VIRTUAL'
             ELSE 'STORED' END);
END $$;

-- The import job a state names is checked with its member and unit, once per statement.
CREATE OR REPLACE FUNCTION member_states_name_known_ids() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$
DECLARE
    stray record;
BEGIN
    SELECT w.member_id, w.unit_id, w.import_job_id,
           EXISTS (SELECT FROM members m WHERE m.member_id = w.member_id) AS member_known,
           EXISTS (SELECT FROM units u WHERE u.unit_id = w.unit_id) AS unit_known
    INTO stray
    FROM written w
    WHERE NOT EXISTS (SELECT FROM members m WHERE m.member_id = w.member_id)
       OR NOT EXISTS (SELECT FROM units u WHERE u.unit_id = w.unit_id)
       OR (w.import_job_id IS NOT NULL
           AND NOT EXISTS (SELECT FROM import_jobs j WHERE j.job_id = w.import_job_id))
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = CASE WHEN NOT stray.member_known
                           THEN format('member_states names member %s, who is not registered',
                                       stray.member_id)
                           WHEN NOT stray.unit_known
                           THEN format('member_states names unit %s, which is not registered',
                                       stray.unit_id)
                           ELSE format('member_states names import job %s, which does not exist',
                                       stray.import_job_id) END,
            CONSTRAINT = CASE WHEN NOT stray.member_known THEN 'member_states_member_id_known'
                              WHEN NOT stray.unit_known THEN 'member_states_unit_id_known'
                              ELSE 'member_states_import_job_id_known' END;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION import_jobs_are_kept() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE restrict_violation USING
        MESSAGE = 'import jobs are never removed: the member states an import recorded name '
                  'its job for who recorded them';
END $$;

CREATE TRIGGER import_jobs_are_kept BEFORE DELETE OR TRUNCATE ON import_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION import_jobs_are_kept();
