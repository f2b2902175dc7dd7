//! Webhooks as LiveKit sends them: signed JWT over the body's SHA-256, with the knobs
//! tests use to duplicate, delay, hold, reorder and drop them.

use super::*;

impl FakeLiveKit {
    // -- Webhooks -------------------------------------------------------------------------

    pub(super) fn emit(
        &self,
        event: &str,
        room: &proto::Room,
        participant: Option<&proto::ParticipantInfo>,
    ) {
        self.send(proto::WebhookEvent {
            event: event.to_string(),
            room: Some(room.clone()),
            participant: participant.cloned(),
            id: id("EV_"),
            created_at: now_secs(),
            ..Default::default()
        });
    }

    /// `track_published` / `track_unpublished`: the participant and the track.
    pub(super) fn emit_track(
        &self,
        event: &str,
        room: &proto::Room,
        participant: &proto::ParticipantInfo,
        track: &proto::TrackInfo,
    ) {
        self.send(proto::WebhookEvent {
            event: event.to_string(),
            room: Some(room.clone()),
            participant: Some(participant.clone()),
            track: Some(track.clone()),
            id: id("EV_"),
            created_at: now_secs(),
            ..Default::default()
        });
    }

    fn send(&self, webhook: proto::WebhookEvent) {
        let Ok(body) = serde_json::to_vec(&webhook) else {
            return;
        };
        let Ok(mut w) = self.webhooks.lock() else {
            return;
        };
        w.sent.push(webhook);
        let Some(url) = w.url.clone() else { return };
        w.counter += 1;
        let n = w.counter;
        if w.knobs.drop_every.is_some_and(|d| d > 0 && n % d == 0) {
            return;
        }
        let copies = if w.knobs.duplicate_every.is_some_and(|d| d > 0 && n % d == 0) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if w.knobs.hold {
                w.held.push((url.clone(), body.clone()));
            } else if let Some(delay) = w.knobs.delay {
                let sender = self.sender.clone();
                let item = (url.clone(), body.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = sender.send(item);
                });
            } else {
                let _ = self.sender.send((url.clone(), body.clone()));
            }
        }
    }
}

/// `Authorization` for a webhook: the bare JWT, with the body's SHA-256 as a claim.
pub fn sign_webhook(api_key: &str, api_secret: &str, body: &[u8]) -> String {
    let hash = STANDARD.encode(Sha256::digest(body));
    AccessToken::with_api_key(api_key, api_secret)
        .with_ttl(Duration::from_secs(300))
        .with_sha256(&hash)
        .to_jwt()
        .unwrap_or_default()
}
