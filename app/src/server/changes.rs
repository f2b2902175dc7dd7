//! Live changes: what the pages following calls, provisioning runs and campaigns hear
//! (`GET /events/calls`), within one instance and, on PostgreSQL, between instances.
//!
//! Call changes are announced on `AppState::call_changes` (the webhook writer and the
//! call services send there); run and campaign changes, and everything heard from other
//! instances, on `AppState::changes`. The stream listens to both.
//!
//! On PostgreSQL several instances may serve one database behind a load balancer, so a
//! viewer on instance B must hear a change instance A made. [`spawn`] starts two tasks:
//! - the **relay** forwards this instance's own changes to the others with
//!   `NOTIFY dial_changes` (a batch per notification: whatever is waiting, gathered for at
//!   most [`GATHER`], up to [`MAX_PAYLOAD`] bytes; PostgreSQL's limit is 8000);
//! - the **listener** (`LISTEN dial_changes`, sqlx's `PgListener` on a connection of its
//!   own) feeds what other instances sent into `AppState::changes`, marked `remote` so it
//!   is not sent back out. Its own notifications it ignores (each instance has an id).
//!   When its connection drops, `PgListener` reconnects and listens again; since
//!   notifications sent meanwhile are lost, viewers are told to refetch everything
//!   (`*`), as after a stream that lagged.
//!
//! On SQLite only one instance can use the database, and nothing is started.

use super::state::{AppState, CallChange};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};

/// The PostgreSQL channel the instances share.
pub const CHANNEL: &str = "dial_changes";

/// How long the relay waits for more changes before sending a notification.
pub const GATHER: Duration = Duration::from_millis(20);

/// The largest payload the relay sends (PostgreSQL refuses more than 8000 bytes).
pub const MAX_PAYLOAD: usize = 7000;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "call")]
    Call,
    #[serde(rename = "run")]
    Run,
    #[serde(rename = "campaign")]
    Campaign,
}

impl Kind {
    /// The stream's event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Run => "run",
            Kind::Campaign => "campaign",
        }
    }
}

/// "This call, run or campaign changed", and whose it is (each viewer hears only about
/// what it may see). An id of `*` means "anything may have changed: refetch".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    #[serde(rename = "k")]
    pub kind: Kind,
    pub id: String,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Heard from another instance (never sent on again).
    #[serde(skip)]
    pub remote: bool,
}

impl Change {
    /// Whether this says "refetch everything".
    pub fn is_everything(&self) -> bool {
        self.id == "*"
    }
}

/// One notification: the sending instance and its changes.
#[derive(Debug, Serialize, Deserialize)]
struct Notification {
    from: String,
    changes: Vec<Change>,
}

/// Tells viewers (here and on other instances) that a provisioning run changed.
pub fn run(state: &AppState, run_id: &str, owner_id: Option<String>) {
    announce(state, Kind::Run, run_id, owner_id);
}

/// Tells viewers (here and on other instances) that a campaign changed.
pub fn campaign(state: &AppState, campaign_id: &str, owner_id: Option<String>) {
    announce(state, Kind::Campaign, campaign_id, owner_id);
}

fn announce(state: &AppState, kind: Kind, id: &str, owner_id: Option<String>) {
    // Nobody listening (no viewer, no relay) is not an error.
    if state.changes.receiver_count() == 0 {
        return;
    }
    let _ = state.changes.send(Change {
        kind,
        id: id.to_string(),
        owner_id,
        remote: false,
    });
}

/// On PostgreSQL: starts the relay and the listener (see the module's documentation).
pub fn spawn(state: &AppState) {
    if !state
        .config
        .effective_database_url()
        .starts_with("postgres")
    {
        return;
    }
    let me = uuid::Uuid::new_v4().to_string();
    let calls = state.call_changes.subscribe();
    let others = state.changes.subscribe();
    tokio::spawn(relay(state.clone(), me.clone(), calls, others));
    tokio::spawn(listen(state.clone(), me));
}

/// What the relay takes next: a change of this instance's, or "some were missed".
enum Next {
    Change(Change),
    Missed,
    Closed,
}

fn from_call(change: Result<CallChange, RecvError>) -> Next {
    match change {
        Ok(c) => Next::Change(Change {
            kind: Kind::Call,
            id: c.call_id,
            owner_id: c.owner_id,
            remote: false,
        }),
        Err(RecvError::Lagged(_)) => Next::Missed,
        Err(RecvError::Closed) => Next::Closed,
    }
}

fn from_other(change: Result<Change, RecvError>) -> Option<Next> {
    match change {
        // What came from other instances goes no further.
        Ok(c) if c.remote => None,
        Ok(c) => Some(Next::Change(c)),
        Err(RecvError::Lagged(_)) => Some(Next::Missed),
        Err(RecvError::Closed) => Some(Next::Closed),
    }
}

async fn relay(
    state: AppState,
    me: String,
    mut calls: broadcast::Receiver<CallChange>,
    mut others: broadcast::Receiver<Change>,
) {
    loop {
        let first = tokio::select! {
            change = calls.recv() => from_call(change),
            change = others.recv() => match from_other(change) {
                Some(next) => next,
                None => continue,
            },
            () = state.shutting_down() => return,
        };
        let mut batch = Batch::default();
        match first {
            Next::Closed => return,
            next => batch.add(next),
        }
        // Whatever else comes within GATHER goes in the same notification.
        let deadline = tokio::time::Instant::now() + GATHER;
        while !batch.full() {
            let next = tokio::select! {
                change = calls.recv() => from_call(change),
                change = others.recv() => match from_other(change) {
                    Some(next) => next,
                    None => continue,
                },
                () = tokio::time::sleep_until(deadline) => break,
            };
            match next {
                Next::Closed => break,
                next => batch.add(next),
            }
        }
        let count = batch.changes.len() as u64;
        let payload = match serde_json::to_string(&Notification {
            from: me.clone(),
            changes: batch.changes,
        }) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "could not write a change notification");
                continue;
            }
        };
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&state.db.pool)
            .await;
        match sent {
            Ok(_) => super::metrics::peer_change("sent", count),
            // Viewers on other instances still have their slow poll.
            Err(e) => tracing::warn!(error = %e, "could not tell other instances of changes"),
        }
    }
}

/// The changes of one notification, without repeats, within [`MAX_PAYLOAD`].
#[derive(Default)]
struct Batch {
    changes: Vec<Change>,
    size: usize,
    everything: bool,
}

impl Batch {
    fn add(&mut self, next: Next) {
        match next {
            Next::Change(change) => {
                if self.everything || self.changes.contains(&change) {
                    return;
                }
                self.size += change.id.len() + change.owner_id.as_ref().map_or(0, String::len) + 32;
                self.changes.push(change);
            }
            Next::Missed => {
                // This instance's own viewers lagged too and refetch; so must the others'.
                self.everything = true;
                self.changes = vec![everything()];
                self.size = 32;
            }
            Next::Closed => {}
        }
    }

    fn full(&self) -> bool {
        self.size >= MAX_PAYLOAD - 256
    }
}

/// "Anything may have changed."
fn everything() -> Change {
    Change {
        kind: Kind::Call,
        id: "*".into(),
        owner_id: None,
        remote: true,
    }
}

async fn listen(state: AppState, me: String) {
    let url = state.config.effective_database_url();
    let mut backoff = Duration::from_millis(250);
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "could not listen for other instances' changes; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = state.shutting_down() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            },
            () = state.shutting_down() => return,
        };
        backoff = Duration::from_millis(250);
        tracing::debug!("listening for other instances' changes");
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                () = state.shutting_down() => return,
            };
            match received {
                Ok(Some(notification)) => hear(&state, &me, notification.payload()),
                // The connection dropped: the next `try_recv` reconnects and listens again.
                // What was sent meanwhile is lost, so viewers refetch.
                Ok(None) => {
                    tracing::warn!(
                        "lost the connection that hears other instances' changes; reconnecting"
                    );
                    let _ = state.changes.send(everything());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening for other instances' changes failed; reconnecting");
                    let _ = state.changes.send(everything());
                    break;
                }
            }
        }
    }
}

/// Feeds another instance's changes to this instance's viewers.
fn hear(state: &AppState, me: &str, payload: &str) {
    let notification: Notification = match serde_json::from_str(payload) {
        Ok(notification) => notification,
        Err(e) => {
            tracing::warn!(error = %e, "an unreadable change notification");
            return;
        }
    };
    if notification.from == me {
        return;
    }
    super::metrics::peer_change("received", notification.changes.len() as u64);
    for mut change in notification.changes {
        change.remote = true;
        let _ = state.changes.send(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> Change {
        Change {
            kind: Kind::Call,
            id: id.into(),
            owner_id: Some("u1".into()),
            remote: false,
        }
    }

    #[test]
    fn a_notification_reads_back_as_written() {
        let notification = Notification {
            from: "a".into(),
            changes: vec![call("c1"), everything()],
        };
        let text = serde_json::to_string(&notification).unwrap();
        let back: Notification = serde_json::from_str(&text).unwrap();
        assert_eq!(back.from, "a");
        assert_eq!(back.changes[0].id, "c1");
        assert_eq!(back.changes[0].owner_id.as_deref(), Some("u1"));
        assert!(back.changes[1].is_everything());
        // `remote` is never on the wire: the listener sets it.
        assert!(!back.changes[1].remote);
    }

    #[test]
    fn a_batch_holds_each_change_once_and_stays_under_the_limit() {
        let mut batch = Batch::default();
        batch.add(Next::Change(call("c1")));
        batch.add(Next::Change(call("c1")));
        assert_eq!(batch.changes.len(), 1);
        let mut n = 0;
        while !batch.full() {
            batch.add(Next::Change(call(&format!("call-{n:032}"))));
            n += 1;
        }
        let text = serde_json::to_string(&Notification {
            from: uuid::Uuid::new_v4().to_string(),
            changes: batch.changes,
        })
        .unwrap();
        assert!(text.len() < 8000, "{}", text.len());
    }

    #[test]
    fn a_missed_change_becomes_refetch_everything() {
        let mut batch = Batch::default();
        batch.add(Next::Change(call("c1")));
        batch.add(Next::Missed);
        batch.add(Next::Change(call("c2")));
        assert_eq!(batch.changes.len(), 1);
        assert!(batch.changes[0].is_everything());
    }
}
