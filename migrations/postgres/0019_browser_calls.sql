-- Calling from the browser: a call a person placed from the dashboard with their
-- microphone. `placed_by` names them (as the calls list shows it), `browser_identity` is
-- the LiveKit identity their browser joins the room as, and `browser_joined_at` is when
-- Dial saw it join: the SIP participant is created only then, once.
ALTER TABLE call_sessions ADD COLUMN placed_by TEXT;
ALTER TABLE call_sessions ADD COLUMN placed_by_user_id TEXT;
ALTER TABLE call_sessions ADD COLUMN browser_identity TEXT;
ALTER TABLE call_sessions ADD COLUMN browser_joined_at BIGINT;
