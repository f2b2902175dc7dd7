-- Operations: when Dial last heard from each provider's webhooks (the setup checklist's
-- "last LiveKit webhook" and "last Twilio callback"), and the last drift scan (one row:
-- its report, and which instance holds the scheduled scan's turn).

CREATE TABLE provider_contacts (
    -- livekit or twilio.
    source  TEXT PRIMARY KEY,
    last_at BIGINT NOT NULL
);

CREATE TABLE drift_state (
    id          BIGINT PRIMARY KEY,
    scanned_at  BIGINT,
    -- The report as JSON (model::DriftReport).
    report      TEXT,
    lease_owner TEXT,
    lease_until BIGINT
);
