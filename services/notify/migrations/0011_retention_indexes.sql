-- What the retention job (`retention.py`) walks: finished e-mails and webhook deliveries by when
-- they finished, digest items already taken, shared bodies by age; and which deliveries name a
-- body, so that "no delivery names it any more" is an index probe, not a scan.
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE status <> 'pending';
CREATE INDEX deliveries_by_body ON deliveries (body_id) WHERE body_id IS NOT NULL;
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE status <> 'pending';
CREATE INDEX digest_items_taken ON digest_items (created_at) WHERE digest_id IS NOT NULL;
CREATE INDEX message_bodies_by_age ON message_bodies (created_at);
