-- What the shared queue needs to follow the LocalQueue's rules (queue.go):
-- the SIM a retry avoids and until when, and each modem's groups (a
-- message From a group is not held for a bound SIM outside the group).
ALTER TABLE messages
	ADD COLUMN q_avoid          text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN q_avoid_until_ns bigint NOT NULL DEFAULT 0;
ALTER TABLE queue_modems ADD COLUMN groups text[] NOT NULL DEFAULT '{}';
