-- The webhook claim takes, per subscription, its oldest due rows (at most the endpoint's slots):
-- one short index range per subscription, instead of numbering every pending row of every
-- subscription on each claim (which cost as much as the whole backlog, claim after claim).
CREATE INDEX webhook_deliveries_due_by_webhook ON webhook_deliveries (webhook_id, next_attempt_at)
    WHERE status = 'pending';
