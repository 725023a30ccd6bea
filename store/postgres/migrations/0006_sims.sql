-- The SIM inventory: one record per SIM (gateway.SIM), by its ID (ICCID,
-- or "imsi:" and its IMSI).
CREATE TABLE sims (
	id    text COLLATE "C" PRIMARY KEY,
	data  json NOT NULL
);
-- The SIM a sticky binding is to ('' for bindings made before the
-- inventory, or through a modem that reports no SIM identity).
ALTER TABLE sticky ADD COLUMN sim text COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX sticky_sim ON sticky (sim) WHERE sim <> '';
