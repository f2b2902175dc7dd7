//! Event webhooks out: the event types, endpoints and deliveries as pages and the JSON
//! API show them. No type here ever holds an endpoint's signing secret except
//! [`CreatedWebhookEndpoint`], the one answer that carries it (its `Debug` leaves it out).

use super::*;

named_enum! {
    /// What an event reports. Call events come from every call's transitions; campaign
    /// events from the campaign engine.
    EventKind {
        /// A call session was created: an outbound call began dialling, or an inbound call
        /// reached its room.
        CallStarted => "call.started",
        /// The callee (or, for an inbound call, the agent) answered.
        CallAnswered => "call.answered",
        /// The call ended, with its outcome.
        CallEnded => "call.ended",
        CampaignStarted => "campaign.started",
        CampaignPaused => "campaign.paused",
        CampaignCompleted => "campaign.completed",
        /// A campaign's contact will not be called again: its final outcome and attempts.
        ContactFinished => "campaign.contact_finished",
    }
}

impl EventKind {
    /// For people, on the endpoint form.
    pub fn description(self) -> &'static str {
        match self {
            EventKind::CallStarted => "A call began dialling, or an inbound call arrived",
            EventKind::CallAnswered => "A call was answered",
            EventKind::CallEnded => "A call ended, with its outcome, SIP status and duration",
            EventKind::CampaignStarted => "A campaign started (or resumed)",
            EventKind::CampaignPaused => "A campaign was paused",
            EventKind::CampaignCompleted => "A campaign called everyone it will call",
            EventKind::ContactFinished => {
                "A campaign's contact is done: final outcome and attempts"
            }
        }
    }
}

named_enum! {
    /// Where a delivery of one event to one endpoint stands.
    DeliveryStatus {
        /// Waiting for its first attempt or its next retry.
        Pending => "pending",
        /// The endpoint answered 2xx.
        Delivered => "delivered",
        /// Retried for 24 hours without a 2xx; Dial gave up (it can still be replayed).
        Failed => "failed",
    }
}

/// An endpoint that receives events (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = WebhookEndpoint))]
pub struct WebhookEndpointView {
    pub id: String,
    /// Where events are posted.
    pub url: String,
    pub description: String,
    /// The event types it receives.
    pub events: Vec<EventKind>,
    /// A disabled endpoint gets no new events; what it had waiting is held until it is
    /// enabled again.
    pub enabled: bool,
    /// Who registered it (its events are theirs: every event for an administrator).
    pub owner_id: String,
    pub owner: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Seconds since the Unix epoch.
    pub updated_at: i64,
    /// When its signing secret was made (at creation or the last rotation).
    pub secret_rotated_at: i64,
    /// Deliveries waiting for an attempt or a retry.
    pub pending: u64,
    /// Deliveries Dial gave up on.
    pub failed: u64,
}

/// An endpoint just created, or its secret just rotated: the only answer that carries the
/// signing secret. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = WebhookEndpointWithSecret))]
pub struct CreatedWebhookEndpoint {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointView,
    /// The signing secret (`whsec_…`): shown this once. Dial signs every delivery with it
    /// (the `Dial-Signature` header).
    pub secret: String,
}

impl std::fmt::Debug for CreatedWebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhookEndpoint")
            .field("endpoint", &self.endpoint)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// One event's delivery to one endpoint, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = WebhookDelivery))]
pub struct WebhookDeliveryView {
    pub id: String,
    /// The event's id: the `Dial-Event-Id` header, the same on every attempt and replay.
    pub event_id: String,
    pub event_type: EventKind,
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// The HTTP status of the last answer, if there was one.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed (no answer, time-out, a refused address…).
    pub last_error: Option<String>,
    /// Seconds since the Unix epoch.
    pub last_attempt_at: Option<i64>,
    /// When the next attempt is due (pending deliveries), seconds since the Unix epoch.
    pub next_attempt_at: Option<i64>,
    /// Seconds since the Unix epoch.
    pub delivered_at: Option<i64>,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}
