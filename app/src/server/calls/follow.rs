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
//! Every read goes through one limiter per Dial process (`DIAL_LIVEKIT_READS_PER_SECOND`,
//! default [`READS_PER_SECOND`]): LiveKit Cloud limits API requests per project (its
//! documentation has stated 1,000 a minute; the project's settings page shows the figure
//! in force), and a burst of ringing calls must not starve the reads and writes that
//! provisioning needs. The limiter is not first come, first served: when there are more
//! calls than reads, the reads that can tell something go first ([`Lane`]):
//! 1. a read after an agent published audio in the call's room (the answer is due now);
//! 2. an outbound call placed without "wait until answered": nothing but these reads
//!    tells Dial it was answered;
//! 3. everything else: an inbound call still ringing (its answer comes with its agent's
//!    `track_published`, lane 1), and a call whose dial waits until answered (the dial's
//!    own answer says it; the reads only show "ringing" meanwhile).
//!
//! `cargo bench --bench follow` measures what 1,000 ringing calls cost (README).
//! Reconcile (every minute) stays the safety net for what is lost.

use super::*;
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Instant,
};
use tokio::sync::{oneshot, Notify};

/// The most `GetParticipant` reads a second one Dial process makes to follow calls, unless
/// `DIAL_LIVEKIT_READS_PER_SECOND` says otherwise: 600 a minute, leaving room under LiveKit
/// Cloud's documented 1,000 a minute for everything else. Several instances sharing one
/// LiveKit project should divide it between them.
pub const READS_PER_SECOND: u32 = 10;

/// The cadence, then every [`STEADY`].
const FIRST_DELAYS_MS: [u64; 3] = [250, 500, 1_000];
const STEADY: Duration = Duration::from_secs(2);

/// The waits between a call's reads: [`FIRST_DELAYS_MS`], then every [`STEADY`].
pub(super) fn cadence() -> impl Iterator<Item = Duration> {
    FIRST_DELAYS_MS
        .iter()
        .map(|ms| Duration::from_millis(*ms))
        .chain(std::iter::repeat(STEADY))
}

/// A call still unanswered after this long is left to its webhooks and to reconcile
/// (LiveKit's longest default ringing is 3 minutes).
const FOLLOW_FOR: Duration = Duration::from_secs(200);

/// Which reads go first when there are more calls to read than reads to spend (later
/// variants first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// An inbound call ringing, or a dial that waits until answered.
    Background,
    /// An outbound call whose answer only a read can see.
    Outbound,
    /// Something happened in the room that may have answered the call.
    Nudged,
}

impl Lane {
    const ALL: [Lane; 3] = [Lane::Nudged, Lane::Outbound, Lane::Background];

    fn index(self) -> usize {
        self as usize
    }
}

/// Hands out reads at a fixed rate, the most useful waiting read first.
pub struct Limiter {
    interval: Duration,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Waiting reads, one queue per [`Lane`] (first come, first served within a lane).
    waiting: [VecDeque<oneshot::Sender<()>>; 3],
    /// The earliest moment the next read may start.
    next: Option<Instant>,
    /// Whether a task is handing out reads.
    dispatching: bool,
}

impl Limiter {
    pub fn new(per_second: u32) -> Arc<Limiter> {
        Arc::new(Limiter {
            interval: Duration::from_secs(1) / per_second.max(1),
            queue: Mutex::new(Queue::default()),
        })
    }

    /// Waits until this read may start.
    pub async fn slot(self: &Arc<Self>, lane: Lane) {
        let (tx, rx) = oneshot::channel();
        let start = {
            let Ok(mut queue) = self.queue.lock() else {
                return;
            };
            queue.waiting[lane.index()].push_back(tx);
            !std::mem::replace(&mut queue.dispatching, true)
        };
        if start {
            tokio::spawn(self.clone().dispatch());
        }
        // A dropped sender (a poisoned lock) lets the read go rather than stall the call.
        let _ = rx.await;
    }

    /// Gives each waiting read its turn, one per interval, until none is waiting.
    async fn dispatch(self: Arc<Self>) {
        loop {
            let due = self.queue.lock().ok().and_then(|q| q.next);
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            let Ok(mut queue) = self.queue.lock() else {
                return;
            };
            let granted = Lane::ALL.iter().any(|lane| {
                let waiting = &mut queue.waiting[lane.index()];
                while let Some(read) = waiting.pop_front() {
                    // A reader that gave up (its call ended, shutdown) costs no slot.
                    if read.send(()).is_ok() {
                        return true;
                    }
                }
                false
            });
            if !granted {
                queue.dispatching = false;
                return;
            }
            queue.next = Some(Instant::now() + self.interval);
        }
    }
}

/// The calls being followed (one follower each) and the read limiter.
#[derive(Clone)]
pub struct Followers {
    inner: Arc<Inner>,
}

struct Inner {
    /// Call id → the follower's wake-up.
    following: Mutex<HashMap<String, Arc<Notify>>>,
    /// Rooms → call ids, for [`nudge`].
    rooms: Mutex<HashMap<String, HashSet<String>>>,
    limiter: Arc<Limiter>,
}

impl Followers {
    fn of(state: &AppState) -> Followers {
        let per_second = state.config.livekit_reads_per_second;
        state.handle(|| Followers {
            inner: Arc::new(Inner {
                following: Mutex::default(),
                rooms: Mutex::default(),
                limiter: Limiter::new(per_second),
            }),
        })
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
/// answered or gone, its reads in `lane`; does nothing if it is followed already.
pub fn follow(state: &AppState, call_id: &str, room: &str, identity: &str, lane: Lane) {
    if room.is_empty() || identity.is_empty() {
        return;
    }
    let followers = Followers::of(state);
    let Some(wake) = followers.register(call_id, room) else {
        return;
    };
    let (state, call_id, room, identity) = (
        state.clone(),
        call_id.to_string(),
        room.to_string(),
        identity.to_string(),
    );
    tokio::spawn(async move {
        let result = run(&state, &followers, &wake, &call_id, &room, &identity, lane).await;
        followers.stop(&call_id, &room);
        if let Err(e) = result {
            tracing::warn!(call = %call_id, error = %e, "stopped following a call");
        }
    });
}

/// A call its own dial is reading (while LiveKit dials it, see `place`): [`follow`]
/// leaves it alone until this is dropped.
pub struct Claim {
    followers: Followers,
    call_id: String,
    room: String,
    held: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.held {
            self.followers.stop(&self.call_id, &self.room);
        }
    }
}

/// Claims `call_id` for its dial: see [`Claim`].
pub fn claim(state: &AppState, call_id: &str, room: &str) -> Claim {
    let followers = Followers::of(state);
    let held = followers.register(call_id, room).is_some();
    Claim {
        followers,
        call_id: call_id.to_string(),
        room: room.to_string(),
        held,
    }
}

/// Waits for a read of a call's participant to be allowed, in `lane`.
pub async fn read_slot(state: &AppState, lane: Lane) {
    Followers::of(state).inner.limiter.slot(lane).await;
}

impl Followers {
    /// Records that `call_id` is followed; `None` if it already was.
    fn register(&self, call_id: &str, room: &str) -> Option<Arc<Notify>> {
        let wake = Arc::new(Notify::new());
        {
            let mut following = self.inner.following.lock().ok()?;
            if following.contains_key(call_id) {
                return None;
            }
            following.insert(call_id.to_string(), wake.clone());
        }
        if let Ok(mut rooms) = self.inner.rooms.lock() {
            rooms
                .entry(room.to_string())
                .or_default()
                .insert(call_id.to_string());
        }
        Some(wake)
    }
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
    lane: Lane,
) -> Result<(), AppError> {
    let started = Instant::now();
    let lk = livekit::settings::client(state)?;
    let mut delays = cadence();
    let mut known = CallStatus::Dialing;
    while started.elapsed() < FOLLOW_FOR {
        let delay = delays.next().unwrap_or(STEADY);
        let lane = tokio::select! {
            () = tokio::time::sleep(delay) => lane,
            () = wake.notified() => Lane::Nudged,
            () = state.shutting_down() => return Ok(()),
        };
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
        tokio::select! {
            () = followers.inner.limiter.slot(lane) => {}
            // A nudge while waiting in a slower lane: the place given up costs no read.
            () = wake.notified(), if lane != Lane::Nudged => {
                followers.inner.limiter.slot(Lane::Nudged).await;
            }
            () = state.shutting_down() => return Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Queues `lane` reads one by one (a millisecond apart, so their order is known) and
    /// records the order in which they are let through.
    async fn queue(limiter: &Arc<Limiter>, reads: &[(Lane, &'static str)]) -> Vec<&'static str> {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (lane, name) in reads.iter().copied() {
            let (limiter, order) = (limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                limiter.slot(lane).await;
                order.lock().expect("order").push(name);
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for task in tasks {
            task.await.expect("read");
        }
        let order = order.lock().expect("order").clone();
        order
    }

    #[tokio::test]
    async fn the_reads_that_can_see_an_answer_go_before_ringing_calls() {
        // 20 ms apart: the first read goes at once, the rest wait long enough for all to queue.
        let limiter = Limiter::new(50);
        let order = queue(
            &limiter,
            &[
                (Lane::Background, "inbound 1"),
                (Lane::Background, "inbound 2"),
                (Lane::Background, "inbound 3"),
                (Lane::Outbound, "outbound"),
                (Lane::Nudged, "nudged"),
                (Lane::Background, "inbound 4"),
            ],
        )
        .await;
        assert_eq!(
            order,
            [
                "inbound 1",
                "nudged",
                "outbound",
                "inbound 2",
                "inbound 3",
                "inbound 4"
            ]
        );
    }

    #[tokio::test]
    async fn reads_never_go_faster_than_the_limit() {
        let limiter = Limiter::new(50);
        let started = Instant::now();
        let reads = [(Lane::Outbound, "read"); 6];
        assert_eq!(queue(&limiter, &reads).await.len(), 6);
        // Six reads 20 ms apart: the last cannot start before 100 ms.
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_read_after_a_quiet_spell_does_not_wait() {
        // Half a second apart; once that has passed, the next read has nothing to wait for.
        let limiter = Limiter::new(2);
        limiter.slot(Lane::Background).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let idle = Instant::now();
        limiter.slot(Lane::Background).await;
        assert!(idle.elapsed() < Duration::from_millis(400));
    }
}
