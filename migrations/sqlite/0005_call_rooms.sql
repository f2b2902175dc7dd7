-- Webhook ingestion looks up calls Dial placed (no sip_call_id yet) and closes the calls of
-- a finished room by room name.
CREATE INDEX call_sessions_room ON call_sessions (room_name);
