-- The member and the unit a member state names are checked once per statement, over every row
-- it wrote (a transition table), instead of by two foreign keys, whose lookup and row lock per
-- row cost a bulk import of a million members twice what writing the rows did. What a foreign
-- key adds beyond the check, that the row referred to cannot later disappear, holds because
-- members and units are never deleted: triggers refuse it (unit_states' foreign keys hold
-- units as well).
ALTER TABLE member_states DROP CONSTRAINT member_states_member_id_fkey,
                          DROP CONSTRAINT member_states_unit_id_fkey;

CREATE FUNCTION member_states_name_known_ids() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$
DECLARE
    stray record;
BEGIN
    SELECT w.member_id, w.unit_id,
           EXISTS (SELECT FROM members m WHERE m.member_id = w.member_id) AS member_known
    INTO stray
    FROM written w
    WHERE NOT EXISTS (SELECT FROM members m WHERE m.member_id = w.member_id)
       OR NOT EXISTS (SELECT FROM units u WHERE u.unit_id = w.unit_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = CASE WHEN stray.member_known
                           THEN format('member_states names unit %s, which is not registered',
                                       stray.unit_id)
                           ELSE format('member_states names member %s, who is not registered',
                                       stray.member_id) END,
            CONSTRAINT = CASE WHEN stray.member_known THEN 'member_states_unit_id_known'
                              ELSE 'member_states_member_id_known' END;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER member_states_inserted_name_known_ids
    AFTER INSERT ON member_states REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION member_states_name_known_ids();
CREATE TRIGGER member_states_updated_name_known_ids
    AFTER UPDATE ON member_states REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION member_states_name_known_ids();

CREATE FUNCTION directory_ids_are_kept() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE restrict_violation USING
        MESSAGE = format('%s are never removed: a unit is dissolved and a member leaves from a '
                         'date, with their history kept', TG_TABLE_NAME);
END $$;

CREATE TRIGGER members_are_kept BEFORE DELETE OR TRUNCATE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION directory_ids_are_kept();
CREATE TRIGGER units_are_kept BEFORE DELETE OR TRUNCATE ON units
    FOR EACH STATEMENT EXECUTE FUNCTION directory_ids_are_kept();
