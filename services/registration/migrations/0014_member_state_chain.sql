-- A member's dated states guarded by btree indexes instead of a GiST exclusion constraint, whose
-- index insert cost a bulk import of a million members most of its time.
--
-- A state now ends where the next begins: `valid_until` is the next state's `effective_from`
-- (null for the latest), and `valid` is derived from the two. What the exclusion constraint
-- guaranteed (never two states of one member on a day) follows from three btree-checked rules:
--   - no two states of a member start on the same day (the primary key);
--   - no two states of a member end on the same day, and at most one is open (unique, nulls
--     not distinct);
--   - a state that ends, ends on the day another state of the member starts (a foreign key to
--     the primary key), after its own start (a check).
-- Ordered by start, the first state's start is nobody's end, so the n ends are the n − 1 other
-- starts and one null, each used once: the k-th state ends where the (k+1)-th starts and the
-- last is open — a chain without overlaps or gaps. The foreign key is checked at commit, since
-- a change closes the open state (its end pointing at a start not inserted yet) before adding
-- the new one.
ALTER TABLE member_states ADD COLUMN valid_until date;
UPDATE member_states SET valid_until = upper(valid) WHERE NOT upper_inf(valid);

ALTER TABLE member_states DROP CONSTRAINT member_states_one_state_a_day;
DROP INDEX member_states_of_unit;
ALTER TABLE member_states DROP COLUMN valid;
ALTER TABLE member_states
    ADD COLUMN valid daterange GENERATED ALWAYS AS (daterange(effective_from, valid_until)) STORED,
    ADD CONSTRAINT member_states_ends_after_start CHECK (valid_until > effective_from),
    ADD CONSTRAINT member_states_one_end_a_day
        UNIQUE NULLS NOT DISTINCT (member_id, valid_until),
    ADD CONSTRAINT member_states_end_is_next_start
        FOREIGN KEY (member_id, valid_until) REFERENCES member_states (member_id, effective_from)
        DEFERRABLE INITIALLY DEFERRED;
-- A unit's members on a date, a page at a time by member id.
CREATE INDEX member_states_of_unit ON member_states (unit_id, member_id);
