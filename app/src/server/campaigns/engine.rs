//! The dialler every instance runs.
//!
//! Each pass:
//! 1. **settle**: contacts whose call has ended get their attempt's outcome and, by the
//!    campaign's retry rules, another attempt later or a final result;
//! 2. **recover**: a contact whose dialling instance stopped renewing its claim (a crash, a
//!    kill) is reconciled: if its call was never created it is simply pending again (no
//!    attempt counted); if it was, the call is LiveKit's to finish and the call reconcile
//!    closes it against LiveKit's rooms — it is never redialled blindly;
//! 3. **dispatch**: for each running campaign, as many dials as its limits allow now.
//!
//! The limits hold across instances because they live in the database: a claim runs in
//! one transaction that locks the campaign's row (PostgreSQL: `FOR UPDATE`; SQLite has
//! one writer), counts its calls in progress, takes the campaign's next pace slot and the
//! carrier trunk's (`dial_budgets`, one row per trunk shared by every campaign), and marks
//! the contact as dialling under this instance's lease (`FOR UPDATE SKIP LOCKED`). Nothing
//! of a campaign's contact list is held in memory: each claim reads one contact.

use super::{gate, Campaign};
use crate::{
    error::AppError,
    model::{CampaignState, Outcome, RetryRule},
    phone::E164,
    server::{db::Backend, new_id, state::AppState},
};
use chrono::{DateTime, Utc};
use std::{sync::Arc, time::Duration};

/// How long a claim holds without renewal (`DIAL_CAMPAIGN_LEASE_SECS`).
fn lease_secs(state: &AppState) -> i64 {
    state.config.campaign_lease.as_secs().max(1) as i64
}
/// The longest the engine sleeps when nothing wakes it.
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// Claims one pass makes per campaign at most (the rest wait for the next pass).
const CLAIMS_PER_PASS: usize = 200;
/// How long one pass keeps claiming for one campaign, sleeping through short waits, before
/// it moves on (other campaigns, settling ended calls).
const DISPATCH_SLICE: Duration = Duration::from_millis(300);
/// Contacts a claim may pass over (skipped or postponed by the gate) before it stops.
const GATE_PER_CLAIM: usize = 100;
/// A call the carrier refused for its call rate (SIP 503) is tried again this soon.
const RATE_REFUSED_RETRY_SECS: i64 = 2;

/// This instance's engine: its identity (for leases) and what wakes it.
#[derive(Clone)]
pub struct Engine {
    pub instance: Arc<str>,
    wake: Arc<tokio::sync::Notify>,
}

fn engine(state: &AppState) -> Engine {
    state.handle(|| Engine {
        instance: format!("dial-{}", new_id()).into(),
        wake: Arc::default(),
    })
}

/// Something changed (a campaign started, settings, a call ended): look again now.
pub fn wake(state: &AppState) {
    engine(state).wake.notify_one();
}

/// Starts the engine (once per process).
pub fn spawn(state: AppState) {
    let me = engine(&state);
    let mut shutdown = state.shutdown.subscribe();
    tokio::spawn(async move {
        let mut renewed = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let next = match pass(&state, &me).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "a campaign pass failed");
                    IDLE_WAKE
                }
            };
            if renewed.elapsed() >= state.config.campaign_lease / 3 {
                if let Err(e) = renew(&state, &me).await {
                    tracing::warn!(error = %e, "could not renew this instance's campaign claims");
                }
                renewed = tokio::time::Instant::now();
            }
            tokio::select! {
                () = me.wake.notified() => {}
                () = tokio::time::sleep(next.min(IDLE_WAKE)) => {}
                _ = shutdown.changed() => {}
            }
        }
    });
}

/// One pass; returns how long until the next is due.
pub async fn pass(state: &AppState, me: &Engine) -> Result<Duration, AppError> {
    settle(state).await?;
    recover(state).await?;
    let running: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM campaigns WHERE state = 'running' ORDER BY started_at, id")
            .fetch_all(&state.db.pool)
            .await?;
    let mut next = IDLE_WAKE;
    for (id,) in running {
        let wait = dispatch(state, me, &id).await?;
        next = next.min(wait);
        complete_if_done(state, &id).await?;
    }
    Ok(next)
}

/// Renews the leases of this instance's dials in flight.
async fn renew(state: &AppState, me: &Engine) -> Result<(), AppError> {
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE campaign_contacts SET lease_until = $1 WHERE lease_owner = $2 AND state = 'dialing'",
    )
    .bind(state.clock.now() + lease_secs(state))
    .bind(me.instance.as_ref())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A contact claimed for a dial.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub contact_id: String,
    pub call_id: String,
    pub phone: E164,
    pub name: Option<String>,
    pub variables: serde_json::Value,
    pub number_id: String,
    pub attempt: u32,
}

enum Claim {
    Dial(Box<(Campaign, Claimed)>),
    /// Nothing may start before this many milliseconds from now.
    Wait(i64),
    /// Nothing to do until something changes.
    Idle,
}

/// Dials as many contacts of one campaign as its limits allow now; returns when to look
/// again.
async fn dispatch(state: &AppState, me: &Engine, campaign_id: &str) -> Result<Duration, AppError> {
    // Read once a pass: a change of settings takes effect on the next pass (within a
    // second, or at once: a change wakes the engine).
    let Some(campaign) = super::load(state, campaign_id).await? else {
        return Ok(IDLE_WAKE);
    };
    // A wait shorter than what is left of this campaign's slice is slept here: the next
    // slot of a fast pace (20 ms at 50 a second) does not cost a whole pass (settling,
    // recovering, reading the campaigns again).
    let slice_ends = tokio::time::Instant::now() + DISPATCH_SLICE;
    for _ in 0..CLAIMS_PER_PASS {
        match claim(state, me, &campaign).await? {
            Claim::Dial(job) => {
                let (state, instance) = (state.clone(), me.instance.clone());
                tokio::spawn(async move {
                    let (campaign, claimed) = *job;
                    dial(&state, &instance, &campaign, claimed).await;
                });
            }
            Claim::Wait(ms) => {
                let wait = Duration::from_millis(ms.clamp(1, 1000) as u64);
                if tokio::time::Instant::now() + wait >= slice_ends {
                    return Ok(wait);
                }
                tokio::time::sleep(wait).await;
            }
            Claim::Idle => return Ok(IDLE_WAKE),
        }
    }
    Ok(Duration::from_millis(1))
}

fn for_update(state: &AppState, skip_locked: bool) -> &'static str {
    match (state.db.backend, skip_locked) {
        (Backend::Postgres, false) => " FOR UPDATE",
        (Backend::Postgres, true) => " FOR UPDATE SKIP LOCKED",
        (Backend::Sqlite, _) => "",
    }
}

/// The carrier trunk a number's calls go through, and its calls-per-second limit.
async fn trunk_budget(
    tx: &mut crate::server::db::WriteTx<'_>,
    number_id: &str,
) -> Result<(String, i64), AppError> {
    let row: Option<(Option<String>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT n.carrier_id, c.outbound_cps, (SELECT t.outbound_cps FROM twilio_config t LIMIT 1) \
         FROM phone_numbers n LEFT JOIN carriers c ON c.id = n.carrier_id WHERE n.id = $1",
    )
    .bind(number_id)
    .fetch_optional(&mut *tx.tx)
    .await?;
    Ok(match row {
        Some((Some(carrier), cps, _)) => (format!("carrier:{carrier}"), cps.unwrap_or(1)),
        Some((None, _, cps)) => ("twilio".to_string(), cps.unwrap_or(1)),
        None => ("twilio".to_string(), 1),
    })
}

/// Takes the next pace slot of a budget whose next slot is `next_ms`: `None` when it is
/// not due yet. A slot a little late keeps its schedule (at most one interval is caught
/// up), so the campaign's rate holds without bursts.
fn take_slot(next_ms: i64, now_ms: i64, interval_ms: i64) -> Option<i64> {
    (next_ms <= now_ms).then(|| next_ms.max(now_ms - interval_ms) + interval_ms)
}

/// A carrier trunk's slots: never two calls closer than its interval, plus a margin for
/// the time between the claim and the carrier seeing the call (20 ms, but at most a tenth
/// of the interval, so a fast trunk keeps most of its rate: 100 a second gets 11 ms
/// slots, not 30). Twilio counts a trunk's calls over a sliding second and refuses the
/// one over the limit; nothing is caught up.
fn take_trunk_slot(next_ms: i64, now_ms: i64, cps: i64) -> Option<i64> {
    const MARGIN_MS: i64 = 20;
    let base = (1000 + cps - 1) / cps.max(1);
    let interval = base + MARGIN_MS.min(base / 10).max(1);
    (next_ms <= now_ms).then_some(now_ms + interval)
}

async fn claim(state: &AppState, me: &Engine, campaign: &Campaign) -> Result<Claim, AppError> {
    let campaign_id = campaign.id.as_str();
    let mut tx = state.db.begin_write().await?;
    let campaign_row: Option<(String, i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT state, max_concurrent, max_cps_milli, next_dial_at_ms FROM campaigns WHERE id = $1{}",
        for_update(state, false)
    ))
    .bind(campaign_id)
    .fetch_optional(&mut *tx.tx)
    .await?;
    let Some((campaign_state, max_concurrent, cps_milli, next_dial_at)) = campaign_row else {
        return Ok(Claim::Idle);
    };
    if campaign_state != CampaignState::Running.as_str() {
        return Ok(Claim::Idle);
    }
    let (active,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 AND state = 'dialing'",
    )
    .bind(campaign_id)
    .fetch_one(&mut *tx.tx)
    .await?;
    if active >= max_concurrent {
        return Ok(Claim::Idle);
    }
    let now_ms = state.clock.now_ms();
    let pace_ms = (1_000_000 / cps_milli.max(1)).max(1);
    let Some(campaign_next) = take_slot(next_dial_at, now_ms, pace_ms) else {
        return Ok(Claim::Wait(next_dial_at - now_ms));
    };
    let now = now_ms.div_euclid(1000);
    let at = DateTime::<Utc>::from_timestamp(now, 0).unwrap_or_default();
    type ContactRow = (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        i64,
    );
    for _ in 0..GATE_PER_CLAIM {
        let contact: Option<ContactRow> = sqlx::query_as(&format!(
            "SELECT id, phone, name, time_zone, phone_number_id, variables, attempts FROM campaign_contacts \
             WHERE campaign_id = $1 AND state = 'pending' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, line LIMIT 1{}",
            for_update(state, true)
        ))
        .bind(campaign_id)
        .bind(now)
        .fetch_optional(&mut *tx.tx)
        .await?;
        let Some((contact_id, phone, name, zone, number_id, variables, attempts)) = contact else {
            tx.commit().await?;
            return Ok(Claim::Idle);
        };
        // The gate, at the moment of dialling.
        let (listed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM do_not_call WHERE e164 = $1")
            .bind(&phone)
            .fetch_one(&mut *tx.tx)
            .await?;
        if listed > 0 {
            finish_skipped(&mut tx, campaign, &contact_id, gate::Skip::DoNotCall, now).await?;
            continue;
        }
        let zones = gate::zones(
            zone.as_deref(),
            campaign.time_zone,
            campaign.use_contact_zone,
        );
        if !campaign.window.allowed_in(at, zones) {
            let open = campaign
                .window
                .next_open_in(at, zones)
                .map_or(now + 86_400, |t| t.timestamp());
            postpone(
                &mut tx,
                &contact_id,
                open.max(now + 1),
                gate::Wait::Hours,
                now,
            )
            .await?;
            continue;
        }
        // A number's day is the callee's.
        let since = gate::last_midnight(at, zones.callee).timestamp();
        let (today,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM campaign_attempts WHERE phone = $1 AND counted = 1 AND started_at >= $2",
        )
        .bind(&phone)
        .bind(since)
        .fetch_one(&mut *tx.tx)
        .await?;
        if today >= i64::from(campaign.daily_cap) {
            let midnight = gate::next_midnight(at, zones.callee).timestamp();
            postpone(
                &mut tx,
                &contact_id,
                midnight.max(now + 1),
                gate::Wait::DailyCap,
                now,
            )
            .await?;
            continue;
        }
        // The carrier trunk's budget, shared by every campaign and instance.
        let (key, cps) = trunk_budget(&mut tx, &number_id).await?;
        sqlx::query(
            "INSERT INTO dial_budgets (key, next_at_ms) VALUES ($1, 0) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&key)
        .execute(&mut *tx.tx)
        .await?;
        let (trunk_next,): (i64,) = sqlx::query_as(&format!(
            "SELECT next_at_ms FROM dial_budgets WHERE key = $1{}",
            for_update(state, false)
        ))
        .bind(&key)
        .fetch_one(&mut *tx.tx)
        .await?;
        let Some(trunk_after) = take_trunk_slot(trunk_next, now_ms, cps.clamp(1, 1000)) else {
            // Keep what the gate decided about earlier contacts.
            tx.commit().await?;
            return Ok(Claim::Wait(trunk_next - now_ms));
        };
        let Ok(phone) = E164::parse(&phone, None) else {
            // Stored numbers were parsed on import; one that no longer parses is skipped.
            finish_skipped(&mut tx, campaign, &contact_id, gate::Skip::Cancelled, now).await?;
            continue;
        };
        sqlx::query("UPDATE dial_budgets SET next_at_ms = $1 WHERE key = $2")
            .bind(trunk_after)
            .bind(&key)
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("UPDATE campaigns SET next_dial_at_ms = $1 WHERE id = $2")
            .bind(campaign_next)
            .bind(campaign_id)
            .execute(&mut *tx.tx)
            .await?;
        let call_id = new_id();
        let attempt = attempts + 1;
        sqlx::query(
            "UPDATE campaign_contacts SET state = 'dialing', attempts = $1, lease_owner = $2, lease_until = $3, \
             call_id = $4, waiting_for = NULL, updated_at = $5 WHERE id = $6",
        )
        .bind(attempt)
        .bind(me.instance.as_ref())
        .bind(now + lease_secs(state))
        .bind(&call_id)
        .bind(now)
        .bind(&contact_id)
        .execute(&mut *tx.tx)
        .await?;
        sqlx::query(
            "INSERT INTO campaign_attempts (id, campaign_id, contact_id, attempt, phone, phone_number_id, call_id, started_at, instance) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id())
        .bind(campaign_id)
        .bind(&contact_id)
        .bind(attempt)
        .bind(phone.as_str())
        .bind(&number_id)
        .bind(&call_id)
        .bind(now)
        .bind(me.instance.as_ref())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        return Ok(Claim::Dial(Box::new((
            campaign.clone(),
            Claimed {
                contact_id,
                call_id,
                phone,
                name,
                variables: serde_json::from_str(&variables)
                    .unwrap_or_else(|_| serde_json::json!({})),
                number_id,
                attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            },
        ))));
    }
    tx.commit().await?;
    Ok(Claim::Wait(1))
}

async fn postpone(
    tx: &mut crate::server::db::WriteTx<'_>,
    contact_id: &str,
    until: i64,
    why: gate::Wait,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE campaign_contacts SET next_attempt_at = $1, waiting_for = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(until)
    .bind(why.as_str())
    .bind(now)
    .bind(contact_id)
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

async fn finish_skipped(
    tx: &mut crate::server::db::WriteTx<'_>,
    campaign: &Campaign,
    contact_id: &str,
    why: gate::Skip,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE campaign_contacts SET state = 'done', result = $1, waiting_for = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(why.as_str())
    .bind(now)
    .bind(contact_id)
    .execute(&mut *tx.tx)
    .await?;
    contact_finished(tx, campaign, contact_id).await
}

/// Places one claimed call and lets go of the claim once LiveKit has it.
async fn dial(state: &AppState, instance: &str, campaign: &Campaign, claimed: Claimed) {
    let request = crate::server::calls::CampaignDial {
        call_id: claimed.call_id.clone(),
        campaign_id: campaign.id.clone(),
        contact_id: claimed.contact_id.clone(),
        number_id: claimed.number_id.clone(),
        assistant_id: campaign.assistant_id.clone(),
        owner_id: campaign.owner_id.clone(),
        to: claimed.phone.clone(),
        contact: serde_json::json!({
            "name": claimed.name,
            "phone": claimed.phone.as_str(),
            "variables": claimed.variables,
        }),
        attempt: claimed.attempt,
        ringing_timeout: Duration::from_secs(u64::from(campaign.ringing_timeout_secs)),
        max_duration: campaign
            .max_duration_secs
            .map(|s| Duration::from_secs(u64::from(s))),
    };
    let placed = crate::server::calls::place_for_campaign(state, request).await;
    crate::server::metrics::campaign_dial(placed.is_ok());
    if let Err(e) = placed {
        tracing::warn!(campaign = %campaign.id, call = %claimed.call_id, error = %e, "a campaign call could not be placed");
    }
    // The call is LiveKit's now (or over): its end settles the contact.
    let released = sqlx::query(
        "UPDATE campaign_contacts SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND call_id = $2 AND lease_owner = $3",
    )
    .bind(&claimed.contact_id)
    .bind(&claimed.call_id)
    .bind(instance)
    .execute(&state.db.pool)
    .await;
    if let Err(e) = released {
        tracing::warn!(error = %e, "could not release a campaign claim");
    }
    crate::server::changes::campaign(state, &campaign.id, Some(campaign.owner_id.clone()));
    wake(state);
}

/// The rule for an outcome that may be retried; `None` for one never retried.
fn rule_for(policy: &crate::model::RetryPolicy, outcome: Outcome) -> Option<RetryRule> {
    match outcome {
        Outcome::Busy | Outcome::Rejected => Some(policy.busy),
        Outcome::NoAnswer | Outcome::EndedBeforeAnswer => Some(policy.no_answer),
        Outcome::Failed => Some(policy.failed),
        Outcome::TrunkAuthFailed => Some(policy.trunk_auth_failed),
        Outcome::Completed | Outcome::Declined | Outcome::Unreachable => None,
    }
}

/// What becomes of a contact after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time, the attempt not counted (the carrier refused the call
    /// for its call rate).
    Requeue { at: i64 },
    /// Try again at this time.
    Retry { at: i64 },
    /// Finished with this result.
    Done,
}

/// The retry policy applied to one attempt's end.
pub fn next_after(
    policy: &crate::model::RetryPolicy,
    outcome: Outcome,
    sip_status: Option<i64>,
    attempts: i64,
    campaign_open: bool,
    now: i64,
) -> Next {
    if sip_status == Some(503) && outcome != Outcome::Completed {
        return if campaign_open {
            Next::Requeue {
                at: now + RATE_REFUSED_RETRY_SECS,
            }
        } else {
            Next::Done
        };
    }
    match rule_for(policy, outcome) {
        Some(rule) if campaign_open && rule.retry && attempts < i64::from(rule.max_attempts) => {
            Next::Retry {
                at: now + i64::from(rule.delay_secs),
            }
        }
        _ => Next::Done,
    }
}

/// Settles contacts whose call has ended.
async fn settle(state: &AppState) -> Result<(), AppError> {
    type Row = (
        String,
        String,
        String,
        i64,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
    );
    let ended: Vec<Row> = sqlx::query_as(
        "SELECT cc.id, cc.campaign_id, cc.call_id, cc.attempts, cs.outcome, cs.sip_status_code, cs.answered_at, cs.end_reason \
         FROM campaign_contacts cc JOIN call_sessions cs ON cs.id = cc.call_id \
         WHERE cc.state = 'dialing' AND cs.status = 'ended' LIMIT 500",
    )
    .fetch_all(&state.db.pool)
    .await?;
    if ended.is_empty() {
        return Ok(());
    }
    let now = state.clock.now();
    let mut campaigns: std::collections::HashMap<String, Campaign> = Default::default();
    for (contact_id, campaign_id, call_id, attempts, outcome, sip, answered, end_reason) in ended {
        if !campaigns.contains_key(&campaign_id) {
            match super::load(state, &campaign_id).await? {
                Some(c) => {
                    campaigns.insert(campaign_id.clone(), c);
                }
                None => continue,
            }
        }
        let Some(campaign) = campaigns.get(&campaign_id) else {
            continue;
        };
        let outcome = match (outcome.as_deref().and_then(Outcome::parse), answered) {
            (Some(outcome), _) => outcome,
            // Closed against LiveKit without an answer (its instance stopped mid-dial, and
            // LiveKit dropped the dial with it): a failure on Dial's side, retried as such.
            (None, None)
                if end_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("closed by reconcile")) =>
            {
                Outcome::Failed
            }
            (None, answered) => crate::server::calls::outcome_of_ended(answered.is_some()),
        };
        let open = matches!(
            campaign.state,
            CampaignState::Running | CampaignState::Paused
        );
        let next = next_after(&campaign.retry, outcome, sip, attempts, open, now);
        let mut tx = state.db.begin_write().await?;
        let changed = match next {
            Next::Requeue { at } | Next::Retry { at } => sqlx::query(
                "UPDATE campaign_contacts SET state = 'pending', next_attempt_at = $1, last_outcome = $2, \
                 last_sip_status = $3, attempts = attempts - $4, lease_owner = NULL, lease_until = NULL, updated_at = $5, \
                 waiting_for = $8 WHERE id = $6 AND state = 'dialing' AND call_id = $7",
            )
            .bind(at)
            .bind(outcome.as_str())
            .bind(sip)
            .bind(i64::from(matches!(next, Next::Requeue { .. })))
            .bind(now)
            .bind(&contact_id)
            .bind(&call_id)
            .bind(matches!(next, Next::Requeue { .. }).then_some(gate::Wait::CarrierRate.as_str())),
            Next::Done => sqlx::query(
                "UPDATE campaign_contacts SET state = 'done', result = $1, last_outcome = $1, last_sip_status = $2, \
                 lease_owner = NULL, lease_until = NULL, waiting_for = NULL, updated_at = $3 \
                 WHERE id = $4 AND state = 'dialing' AND call_id = $5",
            )
            .bind(outcome.as_str())
            .bind(sip)
            .bind(now)
            .bind(&contact_id)
            .bind(&call_id),
        }
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        if changed == 0 {
            // Another instance settled it first.
            continue;
        }
        sqlx::query(
            "UPDATE campaign_attempts SET ended_at = $1, outcome = $2, sip_status = $3, counted = $4 WHERE call_id = $5",
        )
        .bind(now)
        .bind(outcome.as_str())
        .bind(sip)
        .bind(i64::from(!matches!(next, Next::Requeue { .. })))
        .bind(&call_id)
        .execute(&mut *tx.tx)
        .await?;
        if let Next::Requeue { .. } = next {
            // The carrier says the trunk is over its rate: every campaign on it waits a
            // second more.
            let (key, _) =
                trunk_budget(&mut tx, &contact_number(state, &contact_id).await?).await?;
            sqlx::query("UPDATE dial_budgets SET next_at_ms = next_at_ms + 1000 WHERE key = $1")
                .bind(&key)
                .execute(&mut *tx.tx)
                .await?;
        }
        if next == Next::Done {
            contact_finished(&mut tx, campaign, &contact_id).await?;
        }
        tx.commit().await?;
        crate::server::metrics::campaign_attempt(outcome.as_str());
        crate::server::changes::campaign(state, &campaign.id, Some(campaign.owner_id.clone()));
    }
    Ok(())
}

async fn contact_number(state: &AppState, contact_id: &str) -> Result<String, AppError> {
    let (number,): (String,) =
        sqlx::query_as("SELECT phone_number_id FROM campaign_contacts WHERE id = $1")
            .bind(contact_id)
            .fetch_one(&state.db.pool)
            .await?;
    Ok(number)
}

/// Contacts whose dialling instance stopped renewing its claim.
///
/// - No call session: the instance stopped before the call was created; the attempt did
///   not happen, and the contact is pending again (no attempt counted).
/// - A call session: the call may be live at LiveKit. It is reconciled against LiveKit
///   (its participant there or not); a call LiveKit does not have is closed once a dial
///   in flight could no longer reach it, and then settles by the retry rules like any
///   other. It is never redialled blindly.
async fn recover(state: &AppState) -> Result<(), AppError> {
    let now = state.clock.now();
    type Row = (String, Option<String>, Option<String>, i64);
    let expired: Vec<Row> = sqlx::query_as(
        "SELECT cc.id, cc.call_id, cs.id, c.ringing_timeout_secs FROM campaign_contacts cc \
         JOIN campaigns c ON c.id = cc.campaign_id LEFT JOIN call_sessions cs ON cs.id = cc.call_id \
         WHERE cc.state = 'dialing' AND cc.lease_until IS NOT NULL AND cc.lease_until < $1 LIMIT 500",
    )
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    for (contact_id, call_id, session, ringing) in expired {
        match session {
            None => {
                let mut tx = state.db.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE campaign_contacts SET state = 'pending', attempts = attempts - 1, lease_owner = NULL, \
                     lease_until = NULL, next_attempt_at = $1, updated_at = $1 WHERE id = $2 AND state = 'dialing' \
                     AND lease_until < $1",
                )
                .bind(now)
                .bind(&contact_id)
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "DELETE FROM campaign_attempts WHERE call_id = $1 AND ended_at IS NULL",
                )
                .bind(call_id.unwrap_or_default())
                .execute(&mut *tx.tx)
                .await?;
                tx.commit().await?;
                if changed > 0 {
                    tracing::info!(contact = %contact_id, "a campaign contact claimed by a stopped instance was never dialled: pending again");
                }
            }
            Some(session) => {
                // The longest a dial sent by the stopped instance could still be on its
                // way to LiveKit: its ringing time and the dial's own margin.
                let settle = ringing + 15;
                use crate::server::calls::SessionCheck;
                match crate::server::calls::reconcile_session(state, &session, settle).await {
                    // LiveKit has it, or it is over (and settles on the next pass): the
                    // claim has done its work.
                    Ok(SessionCheck::Live | SessionCheck::Over) => {
                        sqlx::query(
                            "UPDATE campaign_contacts SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_until < $2",
                        )
                        .bind(&contact_id)
                        .bind(now)
                        .execute(&state.db.pool)
                        .await?;
                        tracing::info!(contact = %contact_id, call = %session, "reconciled a campaign call whose instance stopped");
                    }
                    Ok(SessionCheck::Unknown) => {}
                    Err(e) => {
                        tracing::warn!(call = %session, error = %e, "could not reconcile a campaign call against LiveKit");
                    }
                }
            }
        }
    }
    Ok(())
}

/// A running campaign with nobody left to call is completed.
async fn complete_if_done(state: &AppState, campaign_id: &str) -> Result<(), AppError> {
    let (left,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 AND state <> 'done'",
    )
    .bind(campaign_id)
    .fetch_one(&state.db.pool)
    .await?;
    if left > 0 {
        return Ok(());
    }
    let Some(campaign) = super::load(state, campaign_id).await? else {
        return Ok(());
    };
    let now = state.clock.now();
    let mut tx = state.db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE campaigns SET state = 'completed', finished_at = $1, updated_at = $1 WHERE id = $2 AND state = 'running' \
         AND NOT EXISTS (SELECT 1 FROM campaign_contacts c WHERE c.campaign_id = $2 AND c.state <> 'done')",
    )
    .bind(now)
    .bind(campaign_id)
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    if changed > 0 {
        crate::server::audit::record_on(
            &mut *tx.tx,
            &crate::server::audit::Actor::system("campaigns"),
            "campaign.complete",
            Some(&campaign.name),
            Some(&format!("campaign {campaign_id}")),
        )
        .await?;
        lifecycle_event(&mut tx, &campaign, CampaignState::Completed).await?;
    }
    tx.commit().await?;
    if changed > 0 {
        crate::server::changes::campaign(state, campaign_id, Some(campaign.owner_id.clone()));
    }
    Ok(())
}

/// Records a campaign's lifecycle change for the event webhooks, in the change's
/// transaction: `campaign.started` (a start or a resume), `campaign.paused`,
/// `campaign.completed` (once per campaign). A cancel has no event of its own: its
/// contacts' `campaign.contact_finished` say it.
pub async fn lifecycle_event(
    tx: &mut crate::server::db::WriteTx<'_>,
    campaign: &Campaign,
    to: CampaignState,
) -> Result<(), AppError> {
    use crate::server::event_hooks::{enqueue, enqueue_once, EventKind};
    let payload = serde_json::json!({
        "campaign": { "id": campaign.id, "name": campaign.name, "assistant_id": campaign.assistant_id, "state": to.as_str() },
    });
    let owner = Some(campaign.owner_id.as_str());
    match to {
        CampaignState::Running => enqueue(tx, owner, EventKind::CampaignStarted, payload).await,
        CampaignState::Paused => enqueue(tx, owner, EventKind::CampaignPaused, payload).await,
        CampaignState::Completed => {
            enqueue_once(
                tx,
                &campaign.id,
                owner,
                EventKind::CampaignCompleted,
                payload,
            )
            .await
        }
        CampaignState::Draft | CampaignState::Cancelled => Ok(()),
    }
}

/// `campaign.contact_finished` for each contact a cancel finished at `at` (one statement
/// reads them; a campaign's contacts are not held in memory beyond their ids). Nothing is
/// read when no enabled endpoint hears that event: cancelling a 100,000-contact campaign
/// then costs one update, not 100,000 reads.
pub async fn cancelled_contacts_finished(
    tx: &mut crate::server::db::WriteTx<'_>,
    campaign: &Campaign,
    at: i64,
) -> Result<(), AppError> {
    let (heard,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM webhook_endpoints WHERE enabled = 1 \
         AND (' ' || events || ' ') LIKE $1",
    )
    .bind(format!(
        "% {} %",
        crate::model::EventKind::ContactFinished.as_str()
    ))
    .fetch_one(&mut *tx.tx)
    .await?;
    if heard == 0 {
        return Ok(());
    }
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM campaign_contacts WHERE campaign_id = $1 AND result = $2 AND updated_at = $3",
    )
    .bind(&campaign.id)
    .bind(gate::Skip::Cancelled.as_str())
    .bind(at)
    .fetch_all(&mut *tx.tx)
    .await?;
    for (id,) in ids {
        contact_finished(tx, campaign, &id).await?;
    }
    Ok(())
}

/// Records a contact's final result for the event webhooks (`campaign.contact_finished`,
/// once per contact), in the change's transaction.
async fn contact_finished(
    tx: &mut crate::server::db::WriteTx<'_>,
    campaign: &Campaign,
    contact_id: &str,
) -> Result<(), AppError> {
    type Row = (
        String,
        Option<String>,
        String,
        i64,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT phone, name, variables, attempts, result, last_sip_status, call_id FROM campaign_contacts WHERE id = $1",
    )
    .bind(contact_id)
    .fetch_optional(&mut *tx.tx)
    .await?;
    let Some((phone, name, variables, attempts, result, sip, call)) = row else {
        return Ok(());
    };
    let payload = serde_json::json!({
        "campaign": { "id": campaign.id, "name": campaign.name },
        "contact": {
            "id": contact_id, "phone": phone, "name": name,
            "variables": serde_json::from_str::<serde_json::Value>(&variables).unwrap_or_default(),
        },
        "outcome": result, "sip_status": sip, "attempts": attempts, "last_call_id": call,
    });
    crate::server::event_hooks::enqueue_once(
        tx,
        contact_id,
        Some(campaign.owner_id.as_str()),
        crate::server::event_hooks::EventKind::ContactFinished,
        payload,
    )
    .await
}

/// Hangs up a campaign's calls in progress (cancel with "hang up").
pub async fn hang_up_live(
    state: &AppState,
    me: &crate::model::Me,
    actor: &crate::server::audit::Actor,
    campaign_id: &str,
) {
    let live: Vec<(String,)> = sqlx::query_as(
        "SELECT call_id FROM campaign_contacts WHERE campaign_id = $1 AND state = 'dialing' AND call_id IS NOT NULL",
    )
    .bind(campaign_id)
    .fetch_all(&state.db.pool)
    .await
    .unwrap_or_default();
    for (call,) in live {
        if let Err(e) = crate::server::calls::hang_up(state, me, actor, &call).await {
            tracing::info!(call = %call, error = %e, "a cancelled campaign's call could not be hung up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RetryPolicy;

    #[test]
    fn outcomes_are_retried_by_the_policy() {
        let p = RetryPolicy::default();
        assert_eq!(
            next_after(&p, Outcome::Busy, Some(486), 1, true, 0),
            Next::Retry { at: 600 }
        );
        assert_eq!(
            next_after(&p, Outcome::Busy, Some(486), 3, true, 0),
            Next::Done
        );
        assert_eq!(
            next_after(&p, Outcome::NoAnswer, Some(480), 2, true, 0),
            Next::Retry { at: 3600 }
        );
        assert_eq!(
            next_after(&p, Outcome::Declined, Some(603), 1, true, 0),
            Next::Done
        );
        assert_eq!(
            next_after(&p, Outcome::Unreachable, Some(404), 1, true, 0),
            Next::Done
        );
        assert_eq!(
            next_after(&p, Outcome::Completed, None, 1, true, 0),
            Next::Done
        );
        // The carrier's "over the call rate" is not an attempt.
        assert_eq!(
            next_after(&p, Outcome::Unreachable, Some(503), 3, true, 0),
            Next::Requeue { at: 2 }
        );
        // A cancelled campaign retries nothing.
        assert_eq!(
            next_after(&p, Outcome::Busy, Some(486), 1, false, 0),
            Next::Done
        );
        let mut off = p;
        off.busy.retry = false;
        assert_eq!(
            next_after(&off, Outcome::Busy, Some(486), 1, true, 0),
            Next::Done
        );
    }

    #[test]
    fn a_pace_slot_keeps_its_schedule_without_bursts() {
        // Due now: the next slot is one interval later.
        assert_eq!(take_slot(1000, 1000, 100), Some(1100));
        // Not due.
        assert_eq!(take_slot(1100, 1050, 100), None);
        // A little late: the schedule holds.
        assert_eq!(take_slot(1000, 1030, 100), Some(1100));
        // Idle for long: at most one interval is caught up.
        assert_eq!(take_slot(0, 10_000, 100), Some(10_000));
        // A trunk's calls are never closer than its interval (and a margin).
        assert_eq!(take_trunk_slot(1000, 1030, 1), Some(2050));
        assert_eq!(take_trunk_slot(1000, 999, 1), None);
        assert_eq!(take_trunk_slot(0, 5000, 3), Some(5354));
        // A fast trunk's margin is a tenth of its interval: 100 a second stays near 100.
        assert_eq!(take_trunk_slot(0, 5000, 100), Some(5011));
    }
}
