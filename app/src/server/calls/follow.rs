//! Following a SIP call until it is answered or gone.
//!
//! LiveKit sends no webhook when a SIP participant's `sip.callStatus` changes: its events
//! are room_started/finished, participant_joined/left/connection_aborted,
//! track_published/unpublished, egress, ingress and agent jobs (livekit/protocol
//! `webhook/consts.go`). So "ringing → answered" is read from the participant itself:
//! every open SIP call (inbound from `participant_joined`, outbound once it is dialled) is
//! followed with `GetParticipant`, at a cadence that slows down (0.25 s, 0.5 s, 1 s, then
//! every 2 s) until it is answered, gone, or has rung for longer than any call may. The
//! one cheap signal there is: an inbound call is answered right after its agent publishes
//! audio (livekit/sip `pkg/sip/inbound.go`), so `track_published` by a participant that is
//! not the SIP one makes the follower read at once ([`nudge`]). The SIP participant's own
//! track is published before it is answered, so it says nothing.
//!
//! Every read goes through one limiter per Dial process ([`READS_PER_SECOND`]): LiveKit
//! Cloud limits API requests per project (its documentation states 1,000 a minute), and a
//! burst of ringing calls must not starve the reads and writes that provisioning needs.
//! Reconcile (every minute) stays the safety net for what is lost.

use super::*;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};
use tokio::sync::Notify;

/// The most `GetParticipant` reads a second this process makes to follow calls: 600 a
/// minute, leaving room under LiveKit Cloud's 1,000 a minute for everything else.
pub const READS_PER_SECOND: u32 = 10;

/// The cadence, then every [`STEADY`].
const FIRST_DELAYS_MS: [u64; 3] = [250, 500, 1_000];
const STEADY: Duration = Duration::from_secs(2);

/// A call still unanswered after this long is left to its webhooks and to reconcile
/// (LiveKit's longest default ringing is 3 minutes).
const FOLLOW_FOR: Duration = Duration::from_secs(200);

/// The calls being followed (one follower each) and the read limiter.
#[derive(Clone, Default)]
pub struct Followers {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Call id → the follower's wake-up.
    following: Mutex<HashMap<String, Arc<Notify>>>,
    /// Rooms → call ids, for [`nudge`].
    rooms: Mutex<HashMap<String, HashSet<String>>>,
    /// The earliest moment the next read may start.
    next_read: tokio::sync::Mutex<Option<Instant>>,
}

impl Followers {
    fn of(state: &AppState) -> Followers {
        state.handle(Followers::default)
    }

    /// Waits for the limiter's next free slot.
    async fn read_slot(&self) {
        let interval = Duration::from_secs(1) / READS_PER_SECOND;
        let slot = {
            let mut next = self.inner.next_read.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }

    fn stop(&self, call_id: &str, room: &str) {
        if let Ok(mut following) = self.inner.following.lock() {
            following.remove(call_id);
        }
        if let Ok(mut rooms) = self.inner.rooms.lock() {
            if let Some(calls) = rooms.get_mut(room) {
                calls.remove(call_id);
                if calls.is_empty() {
                    rooms.remove(room);
                }
            }
        }
    }
}

/// Follows the call `call_id` (its SIP participant `identity` in `room`) until it is
/// answered or gone; does nothing if it is followed already.
pub fn follow(state: &AppState, call_id: &str, room: &str, identity: &str) {
    if room.is_empty() || identity.is_empty() {
        return;
    }
    let followers = Followers::of(state);
    let wake = Arc::new(Notify::new());
    {
        let Ok(mut following) = followers.inner.following.lock() else {
            return;
        };
        if following.contains_key(call_id) {
            return;
        }
        following.insert(call_id.to_string(), wake.clone());
    }
    if let Ok(mut rooms) = followers.inner.rooms.lock() {
        rooms
            .entry(room.to_string())
            .or_default()
            .insert(call_id.to_string());
    }
    let (state, call_id, room, identity) = (
        state.clone(),
        call_id.to_string(),
        room.to_string(),
        identity.to_string(),
    );
    tokio::spawn(async move {
        let result = run(&state, &followers, &wake, &call_id, &room, &identity).await;
        followers.stop(&call_id, &room);
        if let Err(e) = result {
            tracing::warn!(call = %call_id, error = %e, "stopped following a call");
        }
    });
}

/// Something happened in `room` that may have answered its call (an agent published a
/// track): its followers read now instead of at their next turn.
pub fn nudge(state: &AppState, room: &str) {
    let followers = Followers::of(state);
    let calls: Vec<String> = followers
        .inner
        .rooms
        .lock()
        .ok()
        .and_then(|rooms| rooms.get(room).cloned())
        .map(|calls| calls.into_iter().collect())
        .unwrap_or_default();
    let wakes: Vec<Arc<Notify>> = match followers.inner.following.lock() {
        Ok(following) => calls
            .iter()
            .filter_map(|call| following.get(call).cloned())
            .collect(),
        Err(_) => Vec::new(),
    };
    for wake in wakes {
        wake.notify_one();
    }
}

async fn run(
    state: &AppState,
    followers: &Followers,
    wake: &Notify,
    call_id: &str,
    room: &str,
    identity: &str,
) -> Result<(), AppError> {
    let started = Instant::now();
    let lk = livekit::settings::client(state)?;
    let mut delays = FIRST_DELAYS_MS
        .iter()
        .map(|ms| Duration::from_millis(*ms))
        .chain(std::iter::repeat(STEADY));
    let mut known = CallStatus::Dialing;
    while started.elapsed() < FOLLOW_FOR {
        let delay = delays.next().unwrap_or(STEADY);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = wake.notified() => {}
            () = state.shutting_down() => return Ok(()),
        }
        // Ended meanwhile (a webhook, a hang-up, reconcile): nothing left to follow.
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT status_rank FROM call_sessions WHERE id = $1")
                .bind(call_id)
                .fetch_optional(&state.db.pool)
                .await?;
        match stored {
            Some(rank) if rank >= CallStatus::Answered.rank() => return Ok(()),
            None => return Ok(()),
            Some(_) => {}
        }
        followers.read_slot().await;
        let participant = match lk.get_participant(room, identity).await {
            Ok(p) => p,
            // Gone: its participant_left (or reconcile) ends the call.
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => {
                tracing::debug!(call = %call_id, error = %e, "could not read a call's participant");
                continue;
            }
        };
        let Some(status) = sip_facts(&participant).and_then(|f| f.status) else {
            continue;
        };
        if status > known && status < CallStatus::Ended {
            let t = now();
            let mut tx = state.db.begin_write().await?;
            advance(&mut tx, call_id, status, t, None, t).await?;
            tx.commit().await?;
            if status == CallStatus::Answered {
                // On the timeline: no LiveKit event says it.
                super::place::dial_event(
                    state,
                    call_id,
                    "call.answered",
                    json!({ "seen_by": "Dial reading the SIP participant" }),
                )
                .await?;
            }
            notify_by_id(state, call_id).await;
            known = status;
        }
        if status >= CallStatus::Answered {
            return Ok(());
        }
    }
    Ok(())
}
