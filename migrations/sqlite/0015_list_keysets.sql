-- Lists at any depth: every sort a list offers is a key and the id, in one direction, and
-- a page starts after a cursor `(key, id) > ($1, $2)`; these indexes serve each sort, so
-- a page deep in the list reads only its own rows (no OFFSET walk).

-- Phone numbers (live ones: the default list), admin's view and an owner's view.
CREATE INDEX phone_numbers_live_number ON phone_numbers (e164, id) WHERE released_at IS NULL;
CREATE INDEX phone_numbers_live_label ON phone_numbers (LOWER(label), id) WHERE released_at IS NULL;
CREATE INDEX phone_numbers_live_country ON phone_numbers (country, id) WHERE released_at IS NULL;
CREATE INDEX phone_numbers_live_status ON phone_numbers (assignment_status, id) WHERE released_at IS NULL;
CREATE INDEX phone_numbers_owner_label ON phone_numbers (owner_id, LOWER(label), id) WHERE released_at IS NULL;
CREATE INDEX phone_numbers_owner_number ON phone_numbers (owner_id, e164, id) WHERE released_at IS NULL;
DROP INDEX phone_numbers_created;
CREATE INDEX phone_numbers_created_id ON phone_numbers (created_at, id);
DROP INDEX phone_numbers_owner;
CREATE INDEX phone_numbers_owner_created ON phone_numbers (owner_id, created_at, id);

-- Calls, newest first (the id breaks ties of one second), all and one owner's.
DROP INDEX call_sessions_created;
CREATE INDEX call_sessions_created_id ON call_sessions (created_at, id);
DROP INDEX call_sessions_owner;
CREATE INDEX call_sessions_owner_created ON call_sessions (owner_id, created_at, id);

-- A campaign's contacts in file order.
DROP INDEX campaign_contacts_line;
CREATE INDEX campaign_contacts_line_id ON campaign_contacts (campaign_id, line, id);

-- The audit log walks its primary key; a run's newest row is `audit_run` (run_id, id).
