-- Phone numbers, the carriers they come from (NULL carrier = Twilio, bought through Dial)
-- and routing profiles (organisational metadata; they do not change call routing).

CREATE TABLE carriers (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    kind                TEXT NOT NULL CHECK (kind IN ('signalwire', 'telnyx', 'sip')),
    sip_address         TEXT NOT NULL,
    transport           TEXT NOT NULL DEFAULT 'auto' CHECK (transport IN ('auto', 'udp', 'tcp', 'tls')),
    auth_username       TEXT,
    auth_password       TEXT,
    destination_country TEXT,
    inbound_addresses   TEXT NOT NULL DEFAULT '[]',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE routing_profiles (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    plan_code          TEXT NOT NULL DEFAULT '',
    country            TEXT NOT NULL DEFAULT '',
    outbound_provider  TEXT NOT NULL DEFAULT 'twilio',
    outbound_trunk_ref TEXT NOT NULL DEFAULT '',
    inbound_trunk_ref  TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE phone_numbers (
    id                 TEXT PRIMARY KEY,
    e164               TEXT NOT NULL,
    label              TEXT NOT NULL DEFAULT '',
    country            TEXT NOT NULL,
    voice              BIGINT NOT NULL DEFAULT 1,
    sms                BIGINT NOT NULL DEFAULT 0,
    carrier_id         TEXT REFERENCES carriers (id),
    twilio_sid         TEXT,
    owner_id           TEXT REFERENCES users (id),
    assistant_id       TEXT,
    routing_profile_id TEXT REFERENCES routing_profiles (id),
    assignment_status  TEXT NOT NULL DEFAULT 'unassigned'
        CHECK (assignment_status IN ('unassigned', 'pending', 'active', 'failed', 'released')),
    compliance         TEXT NOT NULL DEFAULT '{}',
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    released_at        BIGINT
);
-- A number is managed once at a time; released rows stay as history.
CREATE UNIQUE INDEX phone_numbers_live_e164 ON phone_numbers (e164) WHERE released_at IS NULL;
CREATE UNIQUE INDEX phone_numbers_live_sid ON phone_numbers (twilio_sid) WHERE released_at IS NULL AND twilio_sid IS NOT NULL;
CREATE INDEX phone_numbers_owner ON phone_numbers (owner_id, created_at);
CREATE INDEX phone_numbers_created ON phone_numbers (created_at);
