-- P2P campaigns (campaigns.go): one table per bbolt cmp_* bucket family.
-- Each record is the bbolt store's JSON (data); the other columns are
-- derived from it for ordering, lookups and uniqueness.
CREATE TABLE cmp_campaigns (
	id          text COLLATE "C" PRIMARY KEY,
	created_ns  bigint NOT NULL,
	data        json NOT NULL
);
CREATE TABLE cmp_texters (
	id    text COLLATE "C" PRIMARY KEY,
	data  json NOT NULL
);
CREATE TABLE cmp_imports (
	campaign    text COLLATE "C" NOT NULL,
	id          text COLLATE "C" NOT NULL,
	started_ns  bigint NOT NULL,
	data        json NOT NULL,
	PRIMARY KEY (campaign, id)
);
CREATE TABLE cmp_rejects (
	campaign  text COLLATE "C" NOT NULL,
	import    text COLLATE "C" NOT NULL,
	line      bigint NOT NULL,
	data      json NOT NULL,
	PRIMARY KEY (campaign, import, line)
);
-- One contact per cell and campaign (the unique index is the dedup of an import).
CREATE TABLE cmp_contacts (
	campaign   text COLLATE "C" NOT NULL,
	id         bigint NOT NULL,
	cell       text COLLATE "C" NOT NULL,
	status     text COLLATE "C" NOT NULL,
	texter     text COLLATE "C" NOT NULL,
	opted_out  boolean NOT NULL,
	data       json NOT NULL,
	PRIMARY KEY (campaign, id)
);
CREATE UNIQUE INDEX cmp_contacts_cell ON cmp_contacts (campaign, cell);
CREATE INDEX cmp_contacts_of_cell ON cmp_contacts (cell);
CREATE INDEX cmp_contacts_status ON cmp_contacts (campaign, status, id);
CREATE INDEX cmp_contacts_texter ON cmp_contacts (campaign, texter, status, id) WHERE texter <> '';
CREATE INDEX cmp_contacts_free ON cmp_contacts (campaign, id)
	WHERE texter = '' AND status = 'needs_message' AND NOT opted_out;
CREATE TABLE cmp_messages (
	id          text COLLATE "C" PRIMARY KEY,
	campaign    text COLLATE "C" NOT NULL,
	contact_id  bigint NOT NULL,
	data        json NOT NULL
);
CREATE INDEX cmp_messages_campaign ON cmp_messages (campaign, id);
CREATE INDEX cmp_messages_contact ON cmp_messages (campaign, contact_id, id);
-- The campaign that last texted a number.
CREATE TABLE cmp_latest (
	cell  text COLLATE "C" PRIMARY KEY,
	data  json NOT NULL
);
CREATE TABLE cmp_events (
	campaign    text COLLATE "C" NOT NULL,
	contact_id  bigint NOT NULL,
	at_ns       bigint NOT NULL,
	id          text COLLATE "C" NOT NULL,
	data        json NOT NULL,
	PRIMARY KEY (campaign, contact_id, at_ns, id)
);
CREATE TABLE cmp_inbox (
	at_ns       bigint NOT NULL,
	message_id  text COLLATE "C" NOT NULL,
	data        json NOT NULL,
	PRIMARY KEY (at_ns, message_id)
);
