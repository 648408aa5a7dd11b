-- A phase close walks every unit under the organizer and takes each unit's union officers.
-- The directory's GiST indexes answer "children of X on D" and "members of X on D" at about
-- 15 µs a probe; a fan-out to 10,000 units makes 20,000 of them. These B-trees carry what the
-- walk reads (INCLUDE), so each probe is one index-only descent filtered on `valid`.
CREATE INDEX directory_units_children_walk ON directory_units (parent_id)
    INCLUDE (unit_id, valid);
-- Only officers hear for their unit: a partial index a tenth of the members' size.
CREATE INDEX directory_members_officers ON directory_members (unit_id)
    INCLUDE (member_id, valid, status) WHERE union_officer;
