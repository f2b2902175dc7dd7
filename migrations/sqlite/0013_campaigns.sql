-- Campaigns: an assistant calls a list of contacts, paced, windowed and retried by outcome.
CREATE TABLE campaigns (
    id                   TEXT PRIMARY KEY,
    owner_id             TEXT NOT NULL,
    assistant_id         TEXT NOT NULL,
    name                 TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'completed', 'cancelled')),
    -- National numbers in uploads are read in this country (ISO code).
    default_country      TEXT,
    -- The campaign's IANA time zone; a contact's own zone is used when it is known and
    -- use_contact_zone is set.
    time_zone            TEXT NOT NULL,
    use_contact_zone     BIGINT NOT NULL DEFAULT 1,
    -- The calling window: weekdays (bit 0 Monday … bit 6 Sunday) and local minutes of the
    -- day [start, end); the quiet hours: no call before quiet_start or from quiet_end on.
    window_days          BIGINT NOT NULL,
    window_start_min     BIGINT NOT NULL,
    window_end_min       BIGINT NOT NULL,
    quiet_start_min      BIGINT NOT NULL,
    quiet_end_min        BIGINT NOT NULL,
    max_concurrent       BIGINT NOT NULL,
    -- Call attempts per second, in thousandths (500 = one every two seconds).
    max_cps_milli        BIGINT NOT NULL,
    daily_cap            BIGINT NOT NULL,
    -- JSON: per outcome, whether it is retried, after how long and up to how many attempts.
    retry_policy         TEXT NOT NULL,
    ringing_timeout_secs BIGINT NOT NULL,
    max_duration_secs    BIGINT,
    -- The campaign's own pace: the earliest instant (ms) its next dial may start.
    next_dial_at_ms      BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    started_at           BIGINT,
    finished_at          BIGINT
);
CREATE INDEX campaigns_state ON campaigns (state);
CREATE INDEX campaigns_owner ON campaigns (owner_id, created_at);

-- The numbers a campaign calls from; each contact keeps one of them on every attempt.
CREATE TABLE campaign_numbers (
    campaign_id     TEXT NOT NULL REFERENCES campaigns (id),
    phone_number_id TEXT NOT NULL REFERENCES phone_numbers (id),
    position        BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, phone_number_id)
);

CREATE TABLE campaign_contacts (
    id              TEXT PRIMARY KEY,
    campaign_id     TEXT NOT NULL REFERENCES campaigns (id),
    -- The line of the uploaded file the contact came from.
    line            BIGINT NOT NULL,
    phone           TEXT NOT NULL,
    name            TEXT,
    variables       TEXT NOT NULL DEFAULT '{}',
    -- The contact's own IANA zone, when its number says it for sure.
    time_zone       TEXT,
    phone_number_id TEXT NOT NULL,
    -- pending (waiting for its next attempt), dialing (an attempt in progress), done.
    state           TEXT NOT NULL CHECK (state IN ('pending', 'dialing', 'done')),
    -- Attempts that reached the carrier (a carrier's 503 for the call rate is not one).
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    -- Why it waits (outside the window, quiet hours, daily cap), for the page.
    waiting_for     TEXT,
    -- The instance dialling it and until when its claim holds (renewed while it dials).
    lease_owner     TEXT,
    lease_until     BIGINT,
    call_id         TEXT,
    last_outcome    TEXT,
    last_sip_status BIGINT,
    -- The final result once done: an outcome, or why it was skipped.
    result          TEXT,
    updated_at      BIGINT NOT NULL,
    UNIQUE (campaign_id, phone)
);
CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, state, next_attempt_at, line);
CREATE INDEX campaign_contacts_line ON campaign_contacts (campaign_id, line);
CREATE INDEX campaign_contacts_dialing ON campaign_contacts (state, lease_until);

-- Every attempt, for the daily cap across campaigns, caller-ID health and the history.
CREATE TABLE campaign_attempts (
    id              TEXT PRIMARY KEY,
    campaign_id     TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    attempt         BIGINT NOT NULL,
    phone           TEXT NOT NULL,
    phone_number_id TEXT NOT NULL,
    call_id         TEXT NOT NULL,
    -- The Dial instance that placed it.
    instance        TEXT NOT NULL DEFAULT '',
    -- 0 when the carrier refused it for its call rate (not an attempt on the contact).
    counted         BIGINT NOT NULL DEFAULT 1,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    outcome         TEXT,
    sip_status      BIGINT
);
CREATE INDEX campaign_attempts_phone ON campaign_attempts (phone, started_at);
CREATE INDEX campaign_attempts_campaign ON campaign_attempts (campaign_id, started_at);
CREATE INDEX campaign_attempts_contact ON campaign_attempts (contact_id);

-- Files uploaded for a campaign, kept until their good rows are imported (or an hour).
CREATE TABLE campaign_uploads (
    id          TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    file_name   TEXT NOT NULL DEFAULT '',
    country     TEXT,
    body        BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);

-- One call-rate budget per carrier trunk, shared by every campaign and instance: the
-- earliest instant (ms) the trunk's next call may start.
CREATE TABLE dial_budgets (
    key        TEXT PRIMARY KEY,
    next_at_ms BIGINT NOT NULL
);
-- The carrier's calls-per-second limit (Twilio: 1 per region unless raised, up to 5).
ALTER TABLE carriers ADD COLUMN outbound_cps BIGINT NOT NULL DEFAULT 1;
ALTER TABLE twilio_config ADD COLUMN outbound_cps BIGINT NOT NULL DEFAULT 1;

ALTER TABLE call_sessions ADD COLUMN campaign_id TEXT;
ALTER TABLE call_sessions ADD COLUMN campaign_contact_id TEXT;
CREATE INDEX call_sessions_campaign ON call_sessions (campaign_id, created_at);
