-- The queue several nodes share (queue.go). The message row is the truth:
-- columns derived from the record say whether it waits and when it is
-- ready, and the claim columns hold its lease (node, epoch, until).
ALTER TABLE messages
	ADD COLUMN q_waiting   boolean NOT NULL DEFAULT false,  -- outbound, not final, a part queued or assigned
	ADD COLUMN q_ready_ns  bigint NOT NULL DEFAULT 0,       -- max(send_at, next_attempt_at)
	ADD COLUMN q_expires_ns bigint NOT NULL DEFAULT 0,      -- expires_at (0: never)
	ADD COLUMN q_priority  integer NOT NULL DEFAULT 0,
	ADD COLUMN q_parts     integer NOT NULL DEFAULT 0,      -- pending parts
	ADD COLUMN q_from      text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN q_pin       text COLLATE "C" NOT NULL DEFAULT '', -- the modem earlier parts went out on
	ADD COLUMN q_node      text COLLATE "C" NOT NULL DEFAULT '', -- the claim's node ('' = not claimed)
	ADD COLUMN q_epoch     bigint NOT NULL DEFAULT 0,       -- bumped by every claim (fencing)
	ADD COLUMN q_until_ns  bigint NOT NULL DEFAULT 0;       -- the claim's lease
-- Messages already waiting (stored before this migration) become claimable.
UPDATE messages SET q_waiting = true,
	q_parts = (SELECT count(*) FROM json_array_elements(data->'parts') p WHERE p->>'state' IN ('queued', 'assigned'))
	WHERE direction = 'out' AND status IN ('queued', 'sending')
	AND EXISTS (SELECT 1 FROM json_array_elements(data->'parts') p WHERE p->>'state' IN ('queued', 'assigned'));
CREATE INDEX messages_queue ON messages (q_priority DESC, created_ns, id) WHERE q_waiting;
CREATE INDEX messages_claims ON messages (q_node) WHERE q_node <> '';

-- A contact bound by a claim that has not submitted yet (LocalQueue keeps
-- this in memory): a second message to the contact waits for that SIM.
CREATE TABLE queue_bindings (
	contact     text COLLATE "C" PRIMARY KEY,
	modem       text COLLATE "C" NOT NULL,
	message_id  text COLLATE "C" NOT NULL,
	until_ns    bigint NOT NULL
);

-- Nodes and the modems they hold. A node renews its row while it runs; one
-- whose lease lapsed is reaped by the others (queue.go).
CREATE TABLE queue_nodes (
	node      text COLLATE "C" PRIMARY KEY,
	until_ns  bigint NOT NULL
);
CREATE TABLE queue_modems (
	modem     text COLLATE "C" PRIMARY KEY,
	node      text COLLATE "C" NOT NULL,
	gone      boolean NOT NULL DEFAULT false,
	reason    text NOT NULL DEFAULT ''
);
