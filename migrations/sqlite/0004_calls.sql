-- Calls: one session per SIP participant (keyed by LiveKit's sip.callID), the events that
-- built it (each provider event recorded once), and API keys for the JSON API.

CREATE TABLE call_sessions (
    id                   TEXT PRIMARY KEY,
    -- LiveKit's SIP call id (SCL_…); unique once known.
    sip_call_id          TEXT,
    direction            TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    phone_number_id      TEXT REFERENCES phone_numbers (id),
    assistant_id         TEXT,
    -- Whose call it is (the number's owner), for owners' views.
    owner_id             TEXT,
    from_number          TEXT NOT NULL DEFAULT '',
    to_number            TEXT NOT NULL DEFAULT '',
    room_name            TEXT,
    participant_identity TEXT,
    participant_sid      TEXT,
    twilio_call_sid      TEXT,
    -- dialing → ringing → answered → ended; the state only moves forward (status_rank).
    status               TEXT NOT NULL CHECK (status IN ('dialing', 'ringing', 'answered', 'ended')),
    status_rank          INTEGER NOT NULL,
    -- completed, busy, no_answer, declined, unreachable, trunk_auth_failed, failed, canceled.
    outcome              TEXT,
    sip_status_code      INTEGER,
    end_reason           TEXT,
    created_at           BIGINT NOT NULL,
    ringing_at           BIGINT,
    answered_at          BIGINT,
    ended_at             BIGINT,
    updated_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX call_sessions_sip_call ON call_sessions (sip_call_id) WHERE sip_call_id IS NOT NULL;
CREATE INDEX call_sessions_created ON call_sessions (created_at);
CREATE INDEX call_sessions_twilio ON call_sessions (twilio_call_sid);
CREATE INDEX call_sessions_open ON call_sessions (status_rank, updated_at);
CREATE INDEX call_sessions_owner ON call_sessions (owner_id, created_at);

CREATE TABLE call_events (
    -- The provider's event id (LiveKit EV_…; Twilio: CallSid, status and sequence); Dial's
    -- own actions get a new UUID. A duplicate delivery hits this key and changes nothing.
    id          TEXT PRIMARY KEY,
    call_id     TEXT REFERENCES call_sessions (id),
    -- livekit, twilio or dial.
    source      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX call_events_call ON call_events (call_id, occurred_at);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    -- The first characters of the key, shown in the list ("dial_ab12cd…").
    prefix       TEXT NOT NULL,
    -- SHA-256 (hex) of the whole key; the key itself is shown once and never stored.
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
