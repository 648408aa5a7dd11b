-- The W3C trace context (`traceparent`) of the span that staged the row, written into the
-- record's headers by the relay so a trace continues across the Kafka hop. NULL when tracing
-- is off.
ALTER TABLE outbox ADD COLUMN traceparent text;
