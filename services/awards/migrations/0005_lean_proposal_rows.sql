-- A round writes millions of placements at a city's scale; every byte and index entry of a row
-- is WAL. Measured per placement at 1/10 of a city: the heap 325 B, the primary key 148 B,
-- (issuer_unit_id, status, proposal_id) 160 B, (subject_kind, subject_id, campaign_id,
-- phase_id) 118 B.

-- A placement's standing in words follows from its rank, quota, candidate count and place (the
-- cluster, else the issuer), so the round stores it only where it does not: an excluded
-- candidate's reasons. Rows stored before keep theirs. `proposal_standing(p)` says it for every
-- row, as the round used to store it; the words stay those of the round (`proposed` within
-- quota), whatever the decision later.
ALTER TABLE proposals ALTER COLUMN standing DROP NOT NULL;
CREATE FUNCTION proposal_standing(p proposals) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(p.standing,
    'rank ' || p.rank::text || ' of ' || p.candidate_count::text
    || CASE WHEN p.quota IS NULL
              THEN ' at ' || coalesce(p.cluster_id, p.issuer_unit_id) || '; no quota: proposed'
            ELSE ' for ' || p.quota::text || ' place(s) at '
                 || coalesce(p.cluster_id, p.issuer_unit_id)
                 || CASE WHEN p.rank <= p.quota THEN ': proposed'
                         ELSE ': ' || (p.rank - p.quota)::text
                              || ' place(s) beyond the quota' END
       END)
$$;

-- An issuer's list, paged by id in every status (`GET /proposals?issuer_unit_id=`): the issuer
-- and the id, without the status between them that kept the index from giving that order.
DROP INDEX proposals_issuer;
CREATE INDEX proposals_issuer_id ON proposals (issuer_unit_id, proposal_id);
-- A subject's placements (`GET /proposals?subject_id=`, the levels a decision checks): the
-- subject id alone picks out a handful of rows. Without deduplication: a round adds a subject's
-- key at each title and level, all over the index, and merging each into a posting list cost
-- the round more CPU than the smaller index saved (the WAL is the same).
DROP INDEX proposals_subject;
CREATE INDEX proposals_subject_id ON proposals (subject_id) WITH (deduplicate_items = off);
