//! Drift: what Dial recorded for each number compared with what Twilio and LiveKit hold
//! now, the provider objects carrying Dial's metadata that no number records, and the
//! Twilio numbers Dial does not know. A scan only reads; each finding names its repair,
//! which runs only when a user asks (and is audited).

use super::*;
use crate::model::{DriftFinding, DriftKind, DriftReport, Repair};
use std::collections::{HashMap, HashSet};

/// The one row of `drift_state`.
const ROW: i64 = 1;

/// Scans both providers and stores the report (the pages show the stored one).
pub async fn scan(state: &AppState) -> Result<DriftReport, AppError> {
    let report = inspect(state).await?;
    store(state, &report).await?;
    Ok(report)
}

/// The last stored report (empty before the first scan).
pub async fn last(state: &AppState) -> Result<DriftReport, AppError> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT report FROM drift_state WHERE id = $1")
            .bind(ROW)
            .fetch_optional(&state.db.pool)
            .await?;
    Ok(row
        .and_then(|(r,)| r)
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or_default())
}

/// The stored findings about one number.
pub async fn findings_for_number(
    state: &AppState,
    number_id: &str,
) -> Result<Vec<DriftFinding>, AppError> {
    Ok(last(state)
        .await?
        .findings
        .into_iter()
        .filter(|f| f.number_id.as_deref() == Some(number_id))
        .collect())
}

async fn store(state: &AppState, report: &DriftReport) -> Result<(), AppError> {
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO drift_state (id, scanned_at, report) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET scanned_at = excluded.scanned_at, report = excluded.report",
    )
    .bind(ROW)
    .bind(report.scanned_at)
    .bind(serde_json::to_string(report).unwrap_or_default())
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// How long a claimed turn is held at most (seconds): an instance that stops mid-scan
/// gives the turn up this long after it took it. A scan that ends gives it back at once
/// ([`end_turn`]), so the next one is due one interval after it, however short.
pub const TURN_LEASE: i64 = 600;

/// Claims the scheduled scan for `owner` when the last scan (by any instance, scheduled
/// or asked for) is at least `every` seconds old and no instance holds the turn. One
/// conditional `UPDATE` of the one `drift_state` row, so of two instances claiming at
/// once only one wins (on PostgreSQL the second waits for the row and sees the first's
/// lease; on SQLite writes are one at a time).
pub async fn take_turn(state: &AppState, owner: &str, every: i64) -> Result<bool, AppError> {
    let t = now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO drift_state (id, scanned_at, report) VALUES ($1, NULL, NULL) ON CONFLICT (id) DO NOTHING",
    )
    .bind(ROW)
    .execute(&mut *tx.tx)
    .await?;
    let taken = sqlx::query(
        "UPDATE drift_state SET lease_owner = $1, lease_until = $2 WHERE id = $3 \
         AND (lease_until IS NULL OR lease_until < $4) AND (scanned_at IS NULL OR scanned_at <= $5)",
    )
    .bind(owner)
    .bind(t + TURN_LEASE)
    .bind(ROW)
    .bind(t)
    .bind(t - every)
    .execute(&mut *tx.tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(taken == 1)
}

/// Gives back `owner`'s turn (a turn another instance holds is left alone).
pub async fn end_turn(state: &AppState, owner: &str) -> Result<(), AppError> {
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE drift_state SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
    )
    .bind(ROW)
    .bind(owner)
    .execute(&mut *tx.tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One scheduled attempt: when `owner` gets the turn, scans and gives the turn back
/// (whether the scan worked or not). Returns whether it scanned.
pub async fn scheduled_scan(state: &AppState, owner: &str, every: i64) -> Result<bool, AppError> {
    if !take_turn(state, owner, every).await? {
        return Ok(false);
    }
    let scanned = scan(state).await;
    let ended = end_turn(state, owner).await;
    scanned?;
    ended?;
    Ok(true)
}

/// Scans on a schedule (`DIAL_DRIFT_SCAN_MINUTES`; 0 turns it off): the first scan one
/// interval after start, then whenever the last one (by any instance) is that old.
pub fn spawn(state: AppState) {
    let Some(every) = state.config.drift_scan_every else {
        return;
    };
    let owner = format!("dial-{}", new_id());
    let mut shutdown = state.shutdown.subscribe();
    tokio::spawn(async move {
        let tick = every.min(std::time::Duration::from_secs(60));
        let started = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            if started.elapsed() < every {
                continue;
            }
            let every_secs = every.as_secs().max(1) as i64;
            if let Err(e) = scheduled_scan(&state, &owner, every_secs).await {
                tracing::warn!(error = %e, "the scheduled drift scan failed");
            }
        }
    });
}

/// What a scan sees of one provider, or why it could not look.
type Seen<T> = Option<T>;

struct LiveKitSeen {
    inbound: Vec<proto::SipInboundTrunkInfo>,
    outbound: Vec<proto::SipOutboundTrunkInfo>,
    rules: Vec<proto::SipDispatchRuleInfo>,
}

/// Compares without changing anything.
pub async fn inspect(state: &AppState) -> Result<DriftReport, AppError> {
    let numbers: Vec<NumberFull> = sqlx::query_as(&format!(
        "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE released_at IS NULL ORDER BY e164"
    ))
    .fetch_all(&state.db.pool)
    .await?;
    // A number a run is working on (or that waits for retry or roll back) is the run's
    // business: its objects are half made by design.
    let busy: HashSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT phone_number_id FROM provisioning_runs WHERE status IN ('running', 'rolling_back', 'failed')",
    )
    .fetch_all(&state.db.pool)
    .await?
    .into_iter()
    .collect();
    let assistants: HashMap<String, AssistantFull> = sqlx::query_as::<_, AssistantFull>(
        "SELECT id, owner_id, name, agent_name, metadata, room_prefix FROM assistants",
    )
    .fetch_all(&state.db.pool)
    .await?
    .into_iter()
    .map(|a| (a.id.clone(), a))
    .collect();
    let recorded_outbound: HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT e164, trunk_id FROM livekit_outbound_trunks")
            .fetch_all(&state.db.pool)
            .await?
            .into_iter()
            .collect();

    let mut errors = Vec::new();
    let livekit: Seen<LiveKitSeen> = match livekit::settings::client(state) {
        Err(e) => {
            errors.push(format!("LiveKit was not checked: {e}"));
            None
        }
        Ok(lk) => {
            let (inbound, outbound, rules) = tokio::join!(
                lk.list_inbound_trunks(),
                lk.list_outbound_trunks(),
                lk.list_dispatch_rules()
            );
            match (inbound, outbound, rules) {
                (Ok(inbound), Ok(outbound), Ok(rules)) => Some(LiveKitSeen {
                    inbound,
                    outbound,
                    rules,
                }),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    errors.push(format!(
                        "LiveKit was not checked: it answered {}",
                        AppError::from(e)
                    ));
                    None
                }
            }
        }
    };
    let twilio_settings = twilio::settings::load(state).await?;
    let twilio_configured =
        twilio_settings.account_sid.is_some() && twilio_settings.auth_token.is_some();
    let incoming: Seen<Vec<crate::server::twilio::IncomingNumber>> = if twilio_configured {
        match twilio::settings::client(state).await {
            Ok(client) => match client.list_incoming_numbers().await {
                Ok(list) => Some(list),
                Err(e) => {
                    errors.push(format!(
                        "Twilio was not checked: {}",
                        twilio::settings::describe(&e, client.account_sid(), client.api_base())
                    ));
                    None
                }
            },
            Err(e) => {
                errors.push(format!("Twilio was not checked: {e}"));
                None
            }
        }
    } else {
        if numbers.iter().any(is_twilio_number) {
            errors.push(
                "Twilio was not checked: no Account SID and Auth Token are saved.".to_string(),
            );
        }
        None
    };

    // Where Dial points each Twilio number's call status callback (on import).
    let callback = twilio::webhooks::status_callback_url(state).await?;
    let mut findings = Vec::new();
    let mut checked = 0u64;
    for number in &numbers {
        if busy.contains(&number.id) || number.assignment_status != AssignmentStatus::Active {
            continue;
        }
        let Some(assistant) = number
            .assistant_id
            .as_ref()
            .and_then(|id| assistants.get(id))
        else {
            continue;
        };
        checked += 1;
        if is_twilio_number(number) {
            if let Some(incoming) = &incoming {
                twilio_findings(number, incoming, callback.as_deref(), &mut findings);
            }
        }
        if let Some(lk) = &livekit {
            let expected = expected(state, number, &twilio_settings).await;
            livekit_findings(
                number,
                assistant,
                lk,
                recorded_outbound.get(number.e164.as_str()),
                &expected,
                &mut findings,
            );
        }
    }
    if let Some(lk) = &livekit {
        orphans(&numbers, &busy, &recorded_outbound, lk, &mut findings);
    }
    if let Some(incoming) = &incoming {
        let sids: HashSet<&str> = numbers
            .iter()
            .filter_map(|n| n.twilio_sid.as_deref())
            .collect();
        let known: HashSet<&str> = numbers.iter().map(|n| n.e164.as_str()).collect();
        for n in incoming {
            if sids.contains(n.sid.as_str()) || known.contains(n.phone_number.as_str()) {
                continue;
            }
            findings.push(DriftFinding {
                id: format!("unknown:{}", n.sid),
                kind: DriftKind::UnknownNumber,
                number_id: None,
                e164: Some(n.phone_number.clone()),
                words: format!(
                    "{} ({}) is on the Twilio account but Dial does not know it.",
                    pretty(&n.phone_number),
                    n.sid
                ),
                repair: Repair::Adopt {
                    twilio_sid: n.sid.clone(),
                    e164: n.phone_number.clone(),
                },
            });
        }
    }
    Ok(DriftReport {
        scanned_at: Some(now()),
        findings,
        errors,
        numbers_checked: checked,
    })
}

/// "+1 415 555 0107" for a number in words.
fn pretty(e164: &str) -> String {
    crate::phone::format_e164(e164)
}

fn twilio_findings(
    number: &NumberFull,
    incoming: &[crate::server::twilio::IncomingNumber],
    callback: Option<&str>,
    findings: &mut Vec<DriftFinding>,
) {
    let shown = pretty(number.e164.as_str());
    let found = incoming.iter().find(|n| {
        number.twilio_sid.as_deref() == Some(n.sid.as_str())
            || n.phone_number == number.e164.as_str()
    });
    let Some(found) = found else {
        findings.push(DriftFinding {
            id: format!("number_gone:{}", number.id),
            kind: DriftKind::NumberGone,
            number_id: Some(number.id.clone()),
            e164: Some(number.e164.to_string()),
            words: format!(
                "{shown} is no longer on the Twilio account (released or moved in the Twilio console). Calls to it cannot arrive. Release it in Dial, or move it back in Twilio."
            ),
            repair: Repair::Manual,
        });
        return;
    };
    if let Some(url) = callback {
        if found.status_callback.as_deref() != Some(url) {
            findings.push(DriftFinding {
                id: format!("callback_changed:{}", number.id),
                kind: DriftKind::CallbackChanged,
                number_id: Some(number.id.clone()),
                e164: Some(number.e164.to_string()),
                words: format!(
                    "Twilio no longer tells Dial how {shown}'s calls go: its status callback is {}, Dial set {url}.",
                    found
                        .status_callback
                        .as_deref()
                        .filter(|u| !u.is_empty())
                        .map(|u| format!("now {u}"))
                        .unwrap_or_else(|| "empty".to_string())
                ),
                repair: Repair::RestoreCallback {
                    number_id: number.id.clone(),
                },
            });
        }
    }
    let attached = found.trunk_sid.as_deref().filter(|t| !t.is_empty());
    if let Some(recorded) = number.twilio_trunk_sid.as_deref() {
        if attached != Some(recorded) {
            // Where its calls go now. A voice application and a trunk exclude each other
            // (Twilio's number resource: setting `voice_application_sid` deletes
            // `trunk_sid`), so an application set in the console is what took it off.
            let application = found
                .voice_application_sid
                .as_deref()
                .filter(|a| !a.is_empty());
            let voice_url = found.voice_url.as_deref().filter(|u| !u.is_empty());
            let now_on = match (attached, application, voice_url) {
                (Some(other), _, _) => format!("it is now on trunk {other}"),
                (None, Some(app), _) => format!(
                    "it is on no trunk now: voice application {app} was set on it, which takes a number off its trunk, so Twilio sends its calls to that application. Re-running the assignment puts it back on the trunk (Twilio then sets the application aside; Dial gives it back on unassign)"
                ),
                (None, None, Some(url)) => format!(
                    "it is on no trunk now, so Twilio answers its calls itself, at its voice URL {url}"
                ),
                (None, None, None) => {
                    "it is on no trunk now, so Twilio answers its calls itself".to_string()
                }
            };
            findings.push(DriftFinding {
                id: format!("number_off_trunk:{}", number.id),
                kind: DriftKind::NumberOffTrunk,
                number_id: Some(number.id.clone()),
                e164: Some(number.e164.to_string()),
                words: format!(
                    "{shown} is no longer on Dial's Elastic SIP trunk {recorded} in Twilio: {now_on}."
                ),
                repair: Repair::Reassign {
                    number_id: number.id.clone(),
                },
            });
        }
    }
}

/// What the number's LiveKit trunks should hold, as far as the settings say.
struct Expected {
    /// The addresses the inbound trunk accepts calls from; `None` when unknown.
    inbound_addresses: Option<Vec<String>>,
    /// The outbound trunk's address and SIP user name; `None` when unknown.
    outbound: Option<(String, String)>,
}

async fn expected(
    state: &AppState,
    number: &NumberFull,
    twilio_settings: &twilio::settings::TwilioSettings,
) -> Expected {
    match &number.carrier_id {
        Some(id) => match load_carrier(state, id).await {
            Ok(c) => Expected {
                inbound_addresses: Some(inbound_addresses_for(&state.config, Some(&c))),
                outbound: Some((c.sip_address, c.auth_username.unwrap_or_default())),
            },
            Err(_) => Expected {
                inbound_addresses: None,
                outbound: None,
            },
        },
        None => Expected {
            inbound_addresses: Some(inbound_addresses_for(&state.config, None)),
            outbound: match (&twilio_settings.sip_address, &twilio_settings.sip_username) {
                (Some((address, _)), Some((user, _))) => Some((address.clone(), user.clone())),
                _ => None,
            },
        },
    }
}

fn livekit_findings(
    number: &NumberFull,
    assistant: &AssistantFull,
    lk: &LiveKitSeen,
    recorded_outbound: Option<&String>,
    expected: &Expected,
    findings: &mut Vec<DriftFinding>,
) {
    let shown = pretty(number.e164.as_str());
    let reassign = || Repair::Reassign {
        number_id: number.id.clone(),
    };
    let mut finding = |kind: DriftKind, words: String| {
        findings.push(DriftFinding {
            id: format!("{}:{}", kind.as_str(), number.id),
            kind,
            number_id: Some(number.id.clone()),
            e164: Some(number.e164.to_string()),
            words,
            repair: reassign(),
        });
    };

    // Inbound trunk.
    let inbound = find_inbound(number, &lk.inbound);
    match inbound {
        None => finding(
            DriftKind::InboundMissing,
            format!(
                "The LiveKit inbound trunk for {shown}{} is gone, so LiveKit refuses its calls.",
                number
                    .inbound_trunk_id
                    .as_deref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default()
            ),
        ),
        Some(t) => {
            let mut changes = Vec::new();
            if !t
                .numbers
                .iter()
                .any(|n| normalize_number(n) == number.e164.as_str())
            {
                changes.push(format!(
                    "it no longer takes calls to {shown} (it lists {})",
                    list_or_none(&t.numbers)
                ));
            }
            if let Some(wanted) = &expected.inbound_addresses {
                if &t.allowed_addresses != wanted {
                    changes.push(format!(
                        "it accepts calls from {} instead of {}",
                        list_or_none(&t.allowed_addresses),
                        list_or_none(wanted)
                    ));
                }
            }
            if !changes.is_empty() {
                finding(
                    DriftKind::InboundChanged,
                    format!(
                        "The LiveKit inbound trunk {} for {shown} changed: {}.",
                        t.sip_trunk_id,
                        changes.join("; ")
                    ),
                );
            }
        }
    }

    // Dispatch rule.
    let rule = find_rule(number, inbound.map(|t| t.sip_trunk_id.as_str()), &lk.rules);
    match rule {
        None => finding(
            DriftKind::RuleMissing,
            format!(
                "The dispatch rule for {shown} is gone, so its calls reach no agent (assistant {}).",
                assistant.name
            ),
        ),
        Some(r) => {
            let mut changes = Vec::new();
            if let Some(t) = inbound {
                if r.trunk_ids != [t.sip_trunk_id.clone()] {
                    // No trunk ids: LiveKit applies the rule to calls from every trunk.
                    let routes = if r.trunk_ids.is_empty() {
                        "every inbound trunk".to_string()
                    } else {
                        format!("trunk(s) {}", r.trunk_ids.join(", "))
                    };
                    changes.push(format!(
                        "it routes {routes} instead of {}",
                        t.sip_trunk_id
                    ));
                }
            }
            let agents: Vec<&proto::RoomAgentDispatch> = r
                .room_config
                .as_ref()
                .map(|c| c.agents.iter().collect())
                .unwrap_or_default();
            match agents.first() {
                None => changes.push(format!(
                    "it dispatches no agent, the assistant says `{}`",
                    assistant.agent_name
                )),
                Some(a) => {
                    if a.agent_name != assistant.agent_name {
                        changes.push(format!(
                            "it now dispatches agent `{}`, the assistant says `{}`",
                            a.agent_name, assistant.agent_name
                        ));
                    }
                    if a.metadata != assistant.metadata {
                        changes.push(
                            "the agent's metadata differs from the assistant's".to_string(),
                        );
                    }
                }
            }
            let prefix = match r.rule.as_ref().and_then(|x| x.rule.as_ref()) {
                Some(proto::sip_dispatch_rule::Rule::DispatchRuleIndividual(i)) => {
                    Some(i.room_prefix.clone())
                }
                _ => None,
            };
            match prefix {
                Some(p) if p == assistant.room_prefix => {}
                Some(p) => changes.push(format!(
                    "its rooms start with `{p}`, the assistant says `{}`",
                    assistant.room_prefix
                )),
                None => changes.push(
                    "it is no longer an individual rule (one room per call)".to_string(),
                ),
            }
            if !changes.is_empty() {
                finding(
                    DriftKind::RuleChanged,
                    format!(
                        "The dispatch rule {} for {shown} changed: {}.",
                        r.sip_dispatch_rule_id,
                        changes.join("; ")
                    ),
                );
            }
        }
    }

    // Outbound trunk.
    let outbound = recorded_outbound
        .or(number.outbound_trunk_id.as_ref())
        .and_then(|id| lk.outbound.iter().find(|t| &t.sip_trunk_id == id))
        .or_else(|| {
            lk.outbound
                .iter()
                .find(|t| is_ours(&t.metadata, &number.id))
        });
    match outbound {
        None => {
            if recorded_outbound.is_some() || number.outbound_trunk_id.is_some() {
                finding(
                    DriftKind::OutboundMissing,
                    format!(
                        "The LiveKit outbound trunk for {shown} is gone, so calls from it cannot be placed."
                    ),
                );
            }
        }
        Some(t) => {
            let mut changes = Vec::new();
            if !t
                .numbers
                .iter()
                .any(|n| normalize_number(n) == number.e164.as_str())
            {
                changes.push(format!(
                    "it no longer carries {shown} (it lists {})",
                    list_or_none(&t.numbers)
                ));
            }
            if let Some((address, user)) = &expected.outbound {
                if &t.address != address {
                    changes.push(format!("it calls `{}` instead of `{address}`", t.address));
                }
                if &t.auth_username != user {
                    changes.push(format!(
                        "it signs in as `{}`, the settings say `{user}`",
                        t.auth_username
                    ));
                }
            }
            if !changes.is_empty() {
                finding(
                    DriftKind::OutboundChanged,
                    format!(
                        "The LiveKit outbound trunk {} for {shown} changed: {}.",
                        t.sip_trunk_id,
                        changes.join("; ")
                    ),
                );
            }
        }
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        items.join(", ")
    }
}

/// LiveKit objects carrying Dial's metadata that no number records.
fn orphans(
    numbers: &[NumberFull],
    busy: &HashSet<String>,
    recorded_outbound: &HashMap<String, String>,
    lk: &LiveKitSeen,
    findings: &mut Vec<DriftFinding>,
) {
    let by_id: HashMap<&str, &NumberFull> = numbers.iter().map(|n| (n.id.as_str(), n)).collect();
    let assigned = |n: &NumberFull| n.assignment_status != AssignmentStatus::Unassigned;
    let meta_number = |metadata: &str| -> Option<String> {
        let m = parse_meta(metadata);
        (m["managed_by"] == "dial").then(|| m["number_id"].as_str().unwrap_or("").to_string())
    };
    let mut orphan = |object: &str, id: &str, name: &str, what: &str, e164: Option<String>| {
        let shown = e164.as_deref().map(pretty).unwrap_or_default();
        findings.push(DriftFinding {
            id: format!("orphan:{id}"),
            kind: DriftKind::Orphan,
            number_id: None,
            e164,
            words: format!(
                "LiveKit {what} {id} “{name}” was made by Dial{} but no number records it.",
                if shown.is_empty() {
                    String::new()
                } else {
                    format!(" for {shown}")
                }
            ),
            repair: Repair::DeleteLiveKit {
                object: object.to_string(),
                id: id.to_string(),
                name: name.to_string(),
            },
        });
    };
    let e164_of = |metadata: &str| parse_meta(metadata)["e164"].as_str().map(str::to_string);
    for t in &lk.inbound {
        let Some(owner) = meta_number(&t.metadata) else {
            continue;
        };
        let kept = numbers.iter().any(|n| {
            busy.contains(&n.id)
                || (assigned(n)
                    && (n.inbound_trunk_id.as_deref() == Some(t.sip_trunk_id.as_str())
                        || n.id == owner))
        });
        if !kept {
            orphan(
                "inbound_trunk",
                &t.sip_trunk_id,
                &t.name,
                "inbound trunk",
                e164_of(&t.metadata),
            );
        }
    }
    for r in &lk.rules {
        let Some(owner) = meta_number(&r.metadata) else {
            continue;
        };
        let kept = numbers.iter().any(|n| {
            busy.contains(&n.id)
                || (assigned(n)
                    && (n.dispatch_rule_id.as_deref() == Some(r.sip_dispatch_rule_id.as_str())
                        || n.id == owner))
        });
        if !kept {
            orphan(
                "dispatch_rule",
                &r.sip_dispatch_rule_id,
                &r.name,
                "dispatch rule",
                e164_of(&r.metadata),
            );
        }
    }
    let recorded: HashSet<&str> = recorded_outbound.values().map(String::as_str).collect();
    for t in &lk.outbound {
        let Some(owner) = meta_number(&t.metadata) else {
            continue;
        };
        // Outbound trunks serve calls from unassigned numbers too: any live number's.
        let kept = recorded.contains(t.sip_trunk_id.as_str())
            || by_id.contains_key(owner.as_str())
            || numbers
                .iter()
                .any(|n| n.outbound_trunk_id.as_deref() == Some(t.sip_trunk_id.as_str()));
        if !kept {
            orphan(
                "outbound_trunk",
                &t.sip_trunk_id,
                &t.name,
                "outbound trunk",
                e164_of(&t.metadata),
            );
        }
    }
}

/// Repairs one finding of the last scan (as the user asked), audits it, and scans again;
/// returns what was done, in words.
pub async fn repair(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    finding_id: &str,
) -> Result<String, AppError> {
    if !me.is_admin() {
        return Err(AppError::not_found("That finding"));
    }
    let report = last(state).await?;
    let Some(finding) = report.findings.into_iter().find(|f| f.id == finding_id) else {
        return Err(AppError::not_found(
            "That finding (it may have been repaired already: scan again)",
        ));
    };
    let done = match &finding.repair {
        Repair::Manual => {
            return Err(AppError::conflict(
                "Dial cannot repair this by itself; the finding says what to do.",
            ))
        }
        Repair::Reassign { number_id } => {
            let number = load_number(state, number_id).await?;
            let Some(assistant) = number.assistant_id.clone() else {
                return Err(AppError::conflict(format!(
                    "{} is no longer assigned to an assistant; nothing to re-run.",
                    number.e164
                )));
            };
            let run = assign(state, me, actor, number_id, &assistant).await?;
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM provisioning_runs WHERE id = $1")
                    .bind(&run)
                    .fetch_optional(&state.db.pool)
                    .await?;
            match status.as_deref().and_then(RunStatus::parse) {
                Some(RunStatus::Done) => format!(
                    "The assignment of {} was run again and finished.",
                    pretty(number.e164.as_str())
                ),
                _ => format!(
                    "The assignment of {} was run again but did not finish: the number's page says why.",
                    pretty(number.e164.as_str())
                ),
            }
        }
        Repair::DeleteLiveKit { object, id, name } => {
            let lk = livekit::settings::client(state)?;
            let result = match object.as_str() {
                "dispatch_rule" => lk.delete_dispatch_rule(id).await,
                _ => lk.delete_trunk(id).await,
            };
            match result {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(AppError::from(e)),
            }
            format!(
                "Deleted LiveKit's {} {id} “{name}”.",
                object.replace('_', " ")
            )
        }
        Repair::RestoreCallback { number_id } => {
            let number = load_number(state, number_id).await?;
            crate::server::numbers::restore_status_callback(
                state,
                number.twilio_sid.as_deref().unwrap_or_default(),
            )
            .await?;
            format!(
                "{}'s status callback points at Dial again.",
                pretty(number.e164.as_str())
            )
        }
        Repair::Adopt { twilio_sid, e164 } => {
            crate::server::numbers::import(state, actor, Some(twilio_sid)).await?;
            format!("Imported {} into Dial.", pretty(e164))
        }
    };
    audit::record(
        &state.db,
        actor,
        "drift.repaired",
        finding.e164.as_deref(),
        Some(&format!("{} → {done}", finding.words)),
    )
    .await?;
    scan(state).await?;
    Ok(done)
}
