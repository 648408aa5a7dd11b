-- A subscription's deliveries, paged newest first.
CREATE INDEX webhook_deliveries_by_webhook_page
    ON webhook_deliveries (webhook_id, created_at DESC, delivery_id DESC);
