-- The webhook outbox: events numbered in commit order (AppendEvent takes a
-- transaction-level advisory lock, so a number is never committed after a
-- higher one) and the cursor of the last event turned into deliveries.
-- Events stored before this migration were handed to webhooks when they
-- were emitted: they are numbered behind the cursor.
CREATE SEQUENCE event_seq;
ALTER TABLE events ADD COLUMN seq bigint;
UPDATE events SET seq = n.seq FROM (SELECT id, row_number() OVER (ORDER BY id) AS seq FROM events) n WHERE events.id = n.id;
SELECT setval('event_seq', greatest((SELECT max(seq) FROM events), 1), (SELECT max(seq) FROM events) IS NOT NULL);
ALTER TABLE events ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX events_seq ON events (seq);
CREATE TABLE outbox (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	cursor  bigint NOT NULL
);
INSERT INTO outbox (cursor) SELECT coalesce(max(seq), 0) FROM events;
