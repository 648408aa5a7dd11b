-- The members' in-app inbox by age, for the retention job's oldest-first batches
-- (`NOTIFY_IN_APP_RETENTION_DAYS`).
CREATE INDEX notifications_by_age ON notifications (created_at);
