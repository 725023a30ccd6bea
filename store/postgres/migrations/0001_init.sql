-- simgate schema 1: everything the bbolt store keeps, one table per bucket
-- family. Records are the same JSON as in bbolt (column "data"); the other
-- columns are derived from the record for indexing. Times used for ordering
-- are Unix nanoseconds (bigint) so that order and cursors are exact, as in
-- bbolt; identifiers and numbers compare bytewise (COLLATE "C").

CREATE TABLE messages (
	id          text COLLATE "C" PRIMARY KEY,
	created_ns  bigint NOT NULL,
	direction   text NOT NULL,
	status      text NOT NULL,
	contact     text COLLATE "C",
	modem       text COLLATE "C",
	agent       text COLLATE "C",
	idem_key    bytea UNIQUE,            -- bytea: a client's key may hold any bytes
	version     bigint NOT NULL DEFAULT 0, -- bumped by every update (optimistic locking)
	data        json NOT NULL
);
CREATE INDEX messages_time ON messages (created_ns, id);
CREATE INDEX messages_status ON messages (status, created_ns, id);
CREATE INDEX messages_direction ON messages (direction, created_ns, id);
CREATE INDEX messages_contact ON messages (contact, created_ns, id) WHERE contact IS NOT NULL;
CREATE INDEX messages_modem ON messages (modem, created_ns, id) WHERE modem IS NOT NULL;
CREATE INDEX messages_agent ON messages (agent, created_ns, id) WHERE agent IS NOT NULL;

-- One row per submitted part (PartByMR).
CREATE TABLE part_mrs (
	modem         text COLLATE "C" NOT NULL,
	mr            integer NOT NULL,
	submitted_ns  bigint NOT NULL,
	message_id    text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	seq           integer NOT NULL,
	PRIMARY KEY (modem, mr, submitted_ns, message_id, seq)
);
CREATE INDEX part_mrs_message ON part_mrs (message_id);

CREATE TABLE unmatched_reports (
	seq          bigserial PRIMARY KEY,
	received_ns  bigint NOT NULL,
	data         json NOT NULL
);
CREATE INDEX unmatched_reports_time ON unmatched_reports (received_ns, seq);

CREATE TABLE fragments (
	set_key      bytea NOT NULL,
	seq          integer NOT NULL,
	received_ns  bigint NOT NULL,
	data         json NOT NULL,
	PRIMARY KEY (set_key, seq)
);

CREATE TABLE sticky (
	contact  text COLLATE "C" PRIMARY KEY,
	modem    text COLLATE "C" NOT NULL,
	data     json NOT NULL
);
CREATE INDEX sticky_modem ON sticky (modem);

CREATE TABLE budgets (
	modem  text COLLATE "C" PRIMARY KEY,
	data   json NOT NULL
);

CREATE TABLE optouts (
	number  text COLLATE "C" PRIMARY KEY,
	data    json NOT NULL
);

CREATE TABLE events (
	id     text COLLATE "C" PRIMARY KEY,
	at_ns  bigint NOT NULL,
	data   json NOT NULL
);

CREATE TABLE api_keys (
	id    text COLLATE "C" PRIMARY KEY,
	hash  bytea NOT NULL UNIQUE,
	data  json NOT NULL
);

CREATE TABLE webhooks (
	id    text COLLATE "C" PRIMARY KEY,
	data  json NOT NULL
);

CREATE TABLE deliveries (
	id          text COLLATE "C" PRIMARY KEY,
	webhook_id  text COLLATE "C" NOT NULL,
	created_ns  bigint NOT NULL,
	next_ns     bigint NOT NULL,
	pending     boolean NOT NULL,
	data        json NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_ns, id) WHERE pending;
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, created_ns, id);

CREATE TABLE users (
	id     text COLLATE "C" PRIMARY KEY,
	login  text COLLATE "C" NOT NULL UNIQUE,
	data   json NOT NULL
);

CREATE TABLE sessions (
	hash        bytea PRIMARY KEY,
	user_id     text COLLATE "C" NOT NULL,
	expires_ns  bigint NOT NULL,
	data        json NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_ns);

-- Writable's probe: one row.
CREATE TABLE probe (
	id  integer PRIMARY KEY CHECK (id = 1),
	at  timestamptz NOT NULL
);

-- Retention walks final messages and finished deliveries by age.
CREATE INDEX deliveries_finished ON deliveries (created_ns, id) WHERE NOT pending;
