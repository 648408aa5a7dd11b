-- Dead letters acknowledged by Kafka, by the coordinates of the original record: a batch that
-- is redelivered (its offsets were not committed) skips these instead of sending them again.
CREATE TABLE dead_letters_sent (
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    reason_code     text NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
CREATE INDEX dead_letters_sent_by_age ON dead_letters_sent USING brin (sent_at);

-- Retention prunes the inbox by age (services/runtime/retention.py). Rows arrive in time order,
-- so a BRIN index finds old ones at a fraction of a b-tree's cost on every claim.
CREATE INDEX inbox_by_age ON inbox USING brin (applied_at);
