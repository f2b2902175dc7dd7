-- Event webhooks out: endpoints users register, the outbox of events (written in the same
-- transaction as the change each reports), and one delivery per event and endpoint.

CREATE TABLE webhook_endpoints (
    id                TEXT PRIMARY KEY,
    -- Who registered it: an admin's endpoint hears every event, an owner's only events
    -- about their own calls and campaigns (the role is read when each event goes out).
    user_id           TEXT NOT NULL REFERENCES users (id),
    url               TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    -- The event types it hears, space-separated ("call.ended campaign.completed").
    events            TEXT NOT NULL,
    -- The signing secret, encrypted (crypto.rs), bound to this table, column and row.
    secret            TEXT NOT NULL,
    enabled           INTEGER NOT NULL DEFAULT 1,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    secret_rotated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_user ON webhook_endpoints (user_id, created_at);

-- The outbox. A call's transitions are keyed (call, type) in dedupe_key, so a duplicate or
-- late provider webhook never adds an event; other events have none.
CREATE TABLE webhook_events (
    -- UUIDv7: sorts by creation time.
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    dedupe_key  TEXT UNIQUE,
    -- Whose event it is (the call's or campaign's owner).
    owner_id    TEXT,
    -- A call event's call: its body is written from the call when the event is first
    -- handed to its endpoints (fanned out), and kept from then on.
    call_id     TEXT,
    payload     TEXT,
    occurred_at BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    fanned_out  INTEGER NOT NULL DEFAULT 0
);
-- Ids sort by creation time (UUIDv7), so the id's own index serves pruning by age.
CREATE INDEX webhook_events_waiting ON webhook_events (created_at) WHERE fanned_out = 0;

CREATE TABLE webhook_deliveries (
    -- UUIDv7: sorts by creation time.
    id               TEXT PRIMARY KEY,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    -- pending (waiting for its next attempt), delivered, or failed (gave up).
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- Milliseconds since the epoch: when the next attempt is due, until when a worker holds
    -- it (a lease; a worker that died lets it go), and the end of its retries.
    next_attempt_ms  BIGINT,
    lease_until_ms   BIGINT,
    retry_until_ms   BIGINT NOT NULL,
    last_attempt_at  BIGINT,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
