-- Assistants, and provisioning runs that give a number to an assistant across Twilio and
-- LiveKit. Every step's outcome and every provider id is written before the next step
-- starts, so a run interrupted at any point resumes (or rolls back) from the database.

CREATE TABLE assistants (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id),
    name        TEXT NOT NULL,
    agent_name  TEXT NOT NULL,
    metadata    TEXT NOT NULL DEFAULT '{}',
    room_prefix TEXT NOT NULL DEFAULT 'call-',
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX assistants_owner_name ON assistants (owner_id, name);

-- The Elastic SIP trunk Dial uses (found by its termination address, or created by Dial
-- when the administrator opted in).
ALTER TABLE twilio_config ADD COLUMN trunk_sid TEXT;
ALTER TABLE twilio_config ADD COLUMN auto_trunk INTEGER NOT NULL DEFAULT 0;

-- What routes the number today (set by the last completed run).
ALTER TABLE phone_numbers ADD COLUMN twilio_trunk_sid TEXT;
ALTER TABLE phone_numbers ADD COLUMN inbound_trunk_id TEXT;
ALTER TABLE phone_numbers ADD COLUMN outbound_trunk_id TEXT;
ALTER TABLE phone_numbers ADD COLUMN dispatch_rule_id TEXT;
-- The last "Test inbound route" result (JSON), shown on the number's page.
ALTER TABLE phone_numbers ADD COLUMN last_route_check TEXT;
CREATE INDEX phone_numbers_assistant ON phone_numbers (assistant_id);

-- One LiveKit outbound trunk per number Dial calls from (created by assignment, or on
-- demand by the first outbound call).
CREATE TABLE livekit_outbound_trunks (
    e164            TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL REFERENCES phone_numbers (id),
    trunk_id        TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE provisioning_runs (
    id                    TEXT PRIMARY KEY,
    phone_number_id       TEXT NOT NULL REFERENCES phone_numbers (id),
    kind                  TEXT NOT NULL CHECK (kind IN ('assign', 'unassign')),
    assistant_id          TEXT,
    previous_assistant_id TEXT,
    status                TEXT NOT NULL
        CHECK (status IN ('running', 'failed', 'done', 'rolling_back', 'rolled_back')),
    error                 TEXT,
    actor_id              TEXT,
    actor_name            TEXT,
    started_at            BIGINT NOT NULL,
    -- Milliseconds, to order runs started within the same second.
    started_ms            BIGINT NOT NULL,
    finished_at           BIGINT,
    -- A live worker renews this; a run whose heartbeat is stale is picked up by the
    -- resumer (after a crash, on this or another instance).
    heartbeat_at          BIGINT NOT NULL,
    wall_ms               BIGINT
);
-- At most one unfinished run per number.
CREATE UNIQUE INDEX provisioning_runs_open ON provisioning_runs (phone_number_id)
    WHERE status IN ('running', 'failed', 'rolling_back');
CREATE INDEX provisioning_runs_number ON provisioning_runs (phone_number_id, started_at);

CREATE TABLE provisioning_steps (
    run_id      TEXT NOT NULL REFERENCES provisioning_runs (id),
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL
        CHECK (status IN ('waiting', 'running', 'done', 'failed', 'skipped', 'rolled_back')),
    -- What the step did: created, adopted, updated, deleted, checked, none.
    action      TEXT,
    -- Set (and written) just before the provider call that creates something, so a run
    -- resumed after a crash knows an object it now finds was its own.
    intent      TEXT,
    -- Step-private ids (e.g. the credential list made with a trunk), JSON.
    data        TEXT,
    provider_id TEXT,
    detail      TEXT,
    error       TEXT,
    started_at  BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (run_id, position)
);
