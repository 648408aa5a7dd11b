-- The close of a phase counts its initiatives and looks for those awaiting review: served by
-- an index on the phase (initiatives_by_unit leads with the unit).
CREATE INDEX initiatives_by_phase ON initiatives (campaign_id, phase_id, initiative_id);
