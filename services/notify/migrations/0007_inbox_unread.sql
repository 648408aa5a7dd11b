-- A member's unread messages, counted on every visit to the inbox.
CREATE INDEX notifications_unread ON notifications (recipient_id) WHERE read_at IS NULL;
-- Pages walk (created_at, notification_id) downwards from a cursor.
CREATE INDEX notifications_by_recipient_page
    ON notifications (recipient_id, created_at DESC, notification_id DESC);
DROP INDEX notifications_by_recipient;
