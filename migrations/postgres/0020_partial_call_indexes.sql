-- Every webhook writes a call session (a new one, or its next status), and each index on
-- call_sessions is one more entry a write adds. Three indexes serve lookups of rows that
-- most calls are not: calls bridged from a Twilio call leg, calls a campaign placed, and
-- calls still open. As partial indexes they hold only those rows, so a call without a
-- Twilio leg or a campaign adds no entry to them, and an ended call leaves the open
-- calls' index. Every query that used them names the column with `=` (which implies
-- IS NOT NULL) or `status_rank < 3`, so each still reads through its index.
DROP INDEX call_sessions_twilio;
CREATE INDEX call_sessions_twilio ON call_sessions (twilio_call_sid) WHERE twilio_call_sid IS NOT NULL;
DROP INDEX call_sessions_campaign;
CREATE INDEX call_sessions_campaign ON call_sessions (campaign_id, created_at) WHERE campaign_id IS NOT NULL;
DROP INDEX call_sessions_open;
CREATE INDEX call_sessions_open ON call_sessions (status_rank, updated_at) WHERE status_rank < 3;
