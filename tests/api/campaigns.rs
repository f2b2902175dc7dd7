//! Campaigns end to end against the sandbox's fakes: contacts in, the engine dialling
//! them through the number's trunk within the window and pace, retries by outcome, the
//! do-not-call list at dial time, the lifecycle, owners kept apart, the export.

use crate::{assignment::*, helpers::*};
use dial_app::model::{CampaignDetail, CampaignState, CreatedKey};
use dial_fakes::livekit::{CallOutcome, CallTiming};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub async fn api(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A sandbox app with `e164` assigned to an assistant, an admin API key, and quick calls:
/// the app, the number's id, the assistant's id, the key.
pub async fn campaign_app(e164: &str) -> (TestApp, String, String, String) {
    let app = provisioning_app().await;
    let (number, assistant, key) = ready_for_campaigns(&app, e164).await;
    (app, number, assistant, key)
}

/// On a sandbox app with the admin signed in: `e164` assigned to an assistant, an admin
/// API key, and quick calls; returns the number's id, the assistant's id, the key.
pub async fn ready_for_campaigns(app: &TestApp, e164: &str) -> (String, String, String) {
    let admin = user_id(app, ADMIN).await;
    let number = twilio_number(app, e164).await;
    let assistant = insert_assistant(app, &admin, "Reminders", "reminder-agent", "remind-").await;
    assign(app, &app.client, &number.id, &assistant)
        .await
        .expect("assign");
    let key: CreatedKey = app
        .call(&app.client, "api-keys/create", &[("name", "CRM")])
        .await
        .expect("key");
    let (_, livekit) = fakes(app);
    livekit.set_timing(CallTiming {
        ringing_after: Duration::from_millis(20),
        answer_after: Duration::from_millis(60),
        ..CallTiming::default()
    });
    (number.id, assistant, key.secret)
}

/// Settings that call at any hour of any day.
pub fn always(name: &str, assistant: &str, number: &str) -> Value {
    json!({
        "name": name, "assistant_id": assistant, "number_ids": [number], "default_country": "US",
        "time_zone": "UTC", "use_contact_zone": false,
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "window_start": "00:00", "window_end": "24:00", "quiet_start": "00:00", "quiet_end": "24:00",
        "max_concurrent": 5, "max_cps": 10.0, "daily_cap": 3, "ringing_timeout_secs": 5,
        "max_duration_secs": 600,
        "retry": {
            "busy": { "retry": true, "delay_secs": 600, "max_attempts": 2 },
            "no_answer": { "retry": true, "delay_secs": 3600, "max_attempts": 3 },
            "failed": { "retry": true, "delay_secs": 300, "max_attempts": 2 },
            "trunk_auth_failed": { "retry": false, "delay_secs": 900, "max_attempts": 1 }
        }
    })
}

pub async fn detail(app: &TestApp, key: &str, id: &str) -> CampaignDetail {
    let (status, body) = api(
        app,
        key,
        reqwest::Method::GET,
        &format!("/api/v1/campaigns/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).expect("campaign")
}

/// Hangs up, from the phone, every answered call the fake holds (the callee says goodbye).
pub fn callees_hang_up(app: &TestApp) {
    let (_, livekit) = fakes(app);
    for call in livekit.calls() {
        if call.status == "active" && !call.ended {
            livekit.hang_up_from_phone(&call.room, &call.identity);
        }
    }
}

/// Waits (hanging up answered calls as they come) until `done` holds.
pub async fn wait_for(
    app: &TestApp,
    key: &str,
    id: &str,
    what: &str,
    done: impl Fn(&CampaignDetail) -> bool,
) -> CampaignDetail {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        callees_hang_up(app);
        let d = detail(app, key, id).await;
        if done(&d) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            d.summary.counts
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn contact_state(
    app: &TestApp,
    campaign: &str,
    phone: &str,
) -> (String, i64, Option<String>, Option<String>) {
    sqlx::query_as("SELECT state, attempts, result, waiting_for FROM campaign_contacts WHERE campaign_id = $1 AND phone = $2")
        .bind(campaign)
        .bind(phone)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("contact")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_calls_its_list_retries_by_outcome_and_completes() {
    use reqwest::Method;
    let (app, number, assistant, key) = campaign_app("+14155550130").await;
    let (_, livekit) = fakes(&app);
    livekit.set_outcome("+14155550201", CallOutcome::Busy);
    livekit.set_outcome("+14155550202", CallOutcome::Declined);
    livekit.set_outcome("+14155550203", CallOutcome::NoAnswer);
    // On the do-not-call list before the import: left out of the campaign.
    let _: String = app
        .call(
            &app.client,
            "do-not-call/add",
            &[("number", "+14155550209")],
        )
        .await
        .expect("dnc");

    let (status, created) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/campaigns",
        Some(always("Reminders", &assistant, &number)),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["summary"]["id"].as_str().expect("id").to_string();
    assert_eq!(created["summary"]["state"], "draft");

    // Starting with nobody to call is refused.
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");

    let (status, added) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/contacts"),
        Some(json!([
            { "phone": "+14155550200", "name": "Ada", "variables": { "appointment": "Tuesday 10:00" } },
            { "phone": "+14155550201", "name": "Bo" },
            { "phone": "(415) 555-0202", "name": "Cy" },
            { "phone": "+14155550203" },
            { "phone": "+14155550209", "name": "Listed" },
            { "phone": "not a number" },
            { "phone": "+14155550200", "name": "Ada again" },
        ])),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["added"], 4, "{added}");
    assert_eq!(added["left_out"], 3, "{added}");
    let problems = added["problems"].to_string();
    assert!(problems.contains("do-not-call"), "{problems}");
    assert!(problems.contains("the same number as"), "{problems}");

    let (status, started) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["summary"]["state"], "running");

    // The agent gets the contact with the call (read while the call is live).
    let deadline = Instant::now() + Duration::from_secs(20);
    let room = loop {
        if let Some(call) = livekit
            .calls()
            .into_iter()
            .find(|c| c.to.ends_with("4155550200") && c.status == "active")
        {
            break call.room;
        }
        assert!(Instant::now() < deadline, "Ada's call was never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let dispatch = livekit.agent_dispatches(&room).pop().expect("dispatched");
    assert_eq!(dispatch.agent_name, "reminder-agent");
    let metadata: Value = serde_json::from_str(&dispatch.metadata).expect("json");
    assert_eq!(
        metadata["assistant"], "Reminders",
        "the assistant's own metadata stays"
    );
    assert_eq!(metadata["dial"]["campaign_id"], id.as_str());
    assert_eq!(metadata["dial"]["attempt"], 1);
    assert_eq!(metadata["dial"]["contact"]["name"], "Ada");
    assert_eq!(
        metadata["dial"]["contact"]["variables"]["appointment"],
        "Tuesday 10:00"
    );

    // First attempts: answered, busy (retry later), declined (final), no answer (retry).
    let d = wait_for(&app, &key, &id, "every first attempt", |d| {
        d.summary.counts.dialing == 0 && d.summary.counts.fresh == 0
    })
    .await;
    assert_eq!(d.summary.counts.answered, 1, "{:?}", d.summary.counts);
    assert_eq!(
        contact_state(&app, &id, "+14155550202").await.2.as_deref(),
        Some("declined")
    );
    let busy = contact_state(&app, &id, "+14155550201").await;
    assert_eq!(
        (busy.0.as_str(), busy.1),
        ("pending", 1),
        "busy waits for its retry"
    );
    assert_eq!(d.summary.state, CampaignState::Running);

    // Campaign calls are ordinary calls, marked with their campaign: one per attempt. Four
    // attempts count; a call the carrier refused for its call rate (SIP 503, when a
    // loaded machine delays one dial into the next one's second) is an attempt that does
    // not count, and is tried again.
    let (campaign_calls, attempts, counted): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM call_sessions WHERE campaign_id = $1), \
         (SELECT COUNT(*) FROM campaign_attempts WHERE campaign_id = $1), \
         (SELECT COUNT(*) FROM campaign_attempts WHERE campaign_id = $1 AND counted = 1)",
    )
    .bind(&id)
    .fetch_one(&app.state.db.pool)
    .await
    .expect("count");
    assert_eq!(counted, 4);
    assert_eq!(campaign_calls, attempts);

    // Ten minutes later busy is tried again, from the same number; busy twice is final.
    app.state.clock.advance(Duration::from_secs(601));
    dial_app::server::campaigns::engine::wake(&app.state);
    wait_for(&app, &key, &id, "the busy retry", |_| true).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let busy = contact_state(&app, &id, "+14155550201").await;
        if busy.0 == "done" {
            assert_eq!((busy.1, busy.2.as_deref()), (2, Some("busy")));
            break;
        }
        assert!(Instant::now() < deadline, "busy was not retried: {busy:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let from: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT phone_number_id FROM campaign_attempts WHERE phone = '+14155550201'",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("attempts");
    assert_eq!(from, vec![(number.clone(),)]);

    // No answer: retried after an hour, three times in all, then final.
    for _ in 0..2 {
        app.state.clock.advance(Duration::from_secs(3601));
        dial_app::server::campaigns::engine::wake(&app.state);
        let before = contact_state(&app, &id, "+14155550203").await.1;
        let deadline = Instant::now() + Duration::from_secs(20);
        while contact_state(&app, &id, "+14155550203").await.1 == before
            || contact_state(&app, &id, "+14155550203").await.0 == "dialing"
        {
            assert!(Instant::now() < deadline, "no-answer was not retried");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let d = wait_for(&app, &key, &id, "completion", |d| {
        d.summary.state == CampaignState::Completed
    })
    .await;
    assert_eq!(d.summary.counts.done, 4);
    assert_eq!(
        contact_state(&app, &id, "+14155550203").await.2.as_deref(),
        Some("no_answer")
    );
    assert_eq!(contact_state(&app, &id, "+14155550203").await.1, 3);
    let outcomes: Vec<&str> = d.outcomes.iter().map(|(o, _)| o.as_str()).collect();
    for o in ["completed", "busy", "declined", "no_answer"] {
        assert!(outcomes.contains(&o), "{outcomes:?}");
    }
    // Each contact dialled once per attempt: 1 + 2 + 1 + 3 calls. (A call the carrier
    // refused for its call rate, SIP 503, is tried again and not counted: the time from a
    // claim to the carrier's INVITE varies, so two calls may reach it closer than a
    // second apart.)
    let (attempts, uncounted): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(counted), 0) AS BIGINT), CAST(COALESCE(SUM(1 - counted), 0) AS BIGINT) FROM campaign_attempts WHERE campaign_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.state.db.pool)
    .await
    .expect("count");
    assert_eq!(attempts, 7);
    let (twilio, _) = fakes(&app);
    assert_eq!(
        uncounted as u64,
        twilio.cps_refusals(),
        "only the carrier's refusals are not counted"
    );
    assert_eq!(livekit.calls().len() as u64, 7 + twilio.cps_refusals());
    let actions = app.audit_actions().await;
    for a in [
        "campaign.create",
        "campaign.contacts_import",
        "campaign.start",
        "campaign.complete",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }

    // The results, as CSV.
    let response = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/campaigns/{id}/results.csv")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/csv"));
    let csv = response.text().await.expect("body");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(
        lines[0].starts_with("line,phone,name,state,attempts,result"),
        "{csv}"
    );
    assert!(csv.contains("+14155550201,Bo,done,2,busy"), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_call_starts_outside_the_window_and_the_engine_waits_for_it() {
    use chrono::Timelike;
    use reqwest::Method;
    let (app, number, assistant, key) = campaign_app("+14155550131").await;
    // A window that opened two hours from now (UTC), every day.
    let now = chrono::DateTime::from_timestamp(app.state.clock.now(), 0).expect("now");
    let start = (now.hour() + 2) % 24;
    let mut settings = always("Windowed", &assistant, &number);
    settings["window_start"] = json!(format!("{start:02}:00"));
    settings["window_end"] = json!(format!("{start:02}:30"));
    let (_, created) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/campaigns",
        Some(settings),
    )
    .await;
    let id = created["summary"]["id"].as_str().expect("id").to_string();
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/contacts"),
        Some(json!([{ "phone": "+14155550210" }])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The engine postpones the contact to the window's opening and dials nothing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (state, _, _, waiting) = contact_state(&app, &id, "+14155550210").await;
        if waiting.is_some() {
            assert_eq!(state, "pending");
            assert_eq!(waiting.as_deref(), Some("outside the calling hours"));
            break;
        }
        assert!(Instant::now() < deadline, "the contact was never postponed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (next,): (i64,) =
        sqlx::query_as("SELECT next_attempt_at FROM campaign_contacts WHERE campaign_id = $1")
            .bind(&id)
            .fetch_one(&app.state.db.pool)
            .await
            .expect("next");
    let opens = next - app.state.clock.now();
    assert!((3600..=7200).contains(&opens), "opens in {opens} s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, livekit) = fakes(&app);
    assert!(livekit.calls().is_empty(), "no call outside the window");

    // Once the window opens, the call is placed.
    app.state
        .clock
        .advance(Duration::from_secs(opens as u64 + 1));
    dial_app::server::campaigns::engine::wake(&app.state);
    wait_for(&app, &key, &id, "the call in the window", |d| {
        d.summary.state == CampaignState::Completed
    })
    .await;
    assert_eq!(livekit.calls().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_do_not_call_list_and_the_daily_cap_are_checked_when_dialling() {
    use reqwest::Method;
    let (app, number, assistant, key) = campaign_app("+14155550132").await;
    let (_, livekit) = fakes(&app);
    livekit.set_outcome("+14155550221", CallOutcome::Busy);
    let mut settings = always("Checked", &assistant, &number);
    // Busy is retried after a minute, up to 5 attempts, but only 2 a day are allowed.
    settings["retry"]["busy"] = json!({ "retry": true, "delay_secs": 60, "max_attempts": 5 });
    settings["daily_cap"] = json!(2);
    let (_, created) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/campaigns",
        Some(settings),
    )
    .await;
    let id = created["summary"]["id"].as_str().expect("id").to_string();
    api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/contacts"),
        Some(json!([{ "phone": "+14155550220" }, { "phone": "+14155550221" }])),
    )
    .await;
    // Listed after the import, before the dial.
    let _: String = app
        .call(
            &app.client,
            "do-not-call/add",
            &[("number", "+14155550220")],
        )
        .await
        .expect("dnc");
    let (status, pre) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{pre}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = contact_state(&app, &id, "+14155550220").await;
        if c.0 == "done" {
            assert_eq!(c.2.as_deref(), Some("do_not_call"));
            assert_eq!(c.1, 0, "never dialled");
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Busy twice (a minute apart), then held to the next day by the cap.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = contact_state(&app, &id, "+14155550221").await;
        if c.1 == 2 && c.0 == "pending" {
            app.state.clock.advance(Duration::from_secs(61));
            dial_app::server::campaigns::engine::wake(&app.state);
            tokio::time::sleep(Duration::from_millis(400)).await;
            let c = contact_state(&app, &id, "+14155550221").await;
            if c.3.as_deref() == Some("the daily limit of attempts on this number") {
                assert_eq!(c.1, 2);
                break;
            }
        } else if c.0 == "pending" && c.1 == 1 {
            app.state.clock.advance(Duration::from_secs(61));
            dial_app::server::campaigns::engine::wake(&app.state);
        }
        assert!(Instant::now() < deadline, "the cap never held: {c:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !livekit.calls().iter().any(|c| c.to.ends_with("5550220")),
        "a listed number is never dialled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_follow_the_lifecycle_and_owners_see_only_their_own() {
    use reqwest::Method;
    let (app, number, assistant, key) = campaign_app("+14155550133").await;
    let (_, livekit) = fakes(&app);
    let mut settings = always("Lifecycle", &assistant, &number);
    settings["max_cps"] = json!(0.5);
    let (_, created) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/campaigns",
        Some(settings.clone()),
    )
    .await;
    let id = created["summary"]["id"].as_str().expect("id").to_string();
    let contacts: Vec<Value> = (0..6)
        .map(|i| json!({ "phone": format!("+1415555030{i}") }))
        .collect();
    api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/contacts"),
        Some(Value::Array(contacts)),
    )
    .await;

    // Pausing a draft, resuming a draft: 409 with the reason.
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/pause"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not started"),
        "{body}"
    );

    api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    wait_for(&app, &key, &id, "a first call", |d| {
        d.summary.counts.done >= 1
    })
    .await;
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/pause"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["state"], "paused");
    let dialled = livekit.calls().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    callees_hang_up(&app);
    assert!(
        livekit.calls().len() <= dialled + 1,
        "pausing stops new dials (one may have been claimed)"
    );
    let paused_calls = livekit.calls().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        livekit.calls().len(),
        paused_calls,
        "nothing dialled while paused"
    );

    // The pace can change while paused or running, and takes effect at once.
    settings["max_cps"] = json!(20.0);
    let (status, body) = api(
        &app,
        &key,
        Method::PUT,
        &format!("/api/v1/campaigns/{id}"),
        Some(settings.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/resume"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    wait_for(&app, &key, &id, "completion after resuming", |d| {
        d.summary.state == CampaignState::Completed
    })
    .await;

    // Cancel: a second campaign's uncalled contacts are done as cancelled.
    let (_, second) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/campaigns",
        Some(always("Second", &assistant, &number)),
    )
    .await;
    let second = second["summary"]["id"].as_str().expect("id").to_string();
    api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{second}/contacts"),
        Some(json!([{ "phone": "+14155550310" }, { "phone": "+14155550311" }])),
    )
    .await;
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{second}/cancel"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["state"], "cancelled");
    assert_eq!(body["summary"]["counts"]["skipped"], 2);
    let (status, _) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{second}/start"),
        None,
    )
    .await;
    assert_eq!(status, 409, "a cancelled campaign cannot start");
    let (status, _) = api(
        &app,
        &key,
        Method::PUT,
        &format!("/api/v1/campaigns/{second}"),
        Some(settings),
    )
    .await;
    assert_eq!(status, 409, "nor change");

    // Another owner sees none of it.
    let (owner, _) = app.owner_client().await;
    let page: dial_app::model::Page<dial_app::model::CampaignSummary> =
        app.call(&owner, "campaigns/list", &[]).await.expect("list");
    assert_eq!(page.total, 0);
    let err = app
        .call::<CampaignDetail>(&owner, "campaigns/get", &[("id", &id)])
        .await
        .expect_err("hidden");
    assert!(
        matches!(err, dial_app::error::AppError::NotFound { .. }),
        "{err:?}"
    );
    let response = owner
        .get(app.url(&format!("/api/campaigns/{id}/results.csv")))
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 404);
    let actions = app.audit_actions().await;
    for a in [
        "campaign.pause",
        "campaign.resume",
        "campaign.cancel",
        "campaign.update",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_field_by_field() {
    use reqwest::Method;
    let (app, number, assistant, key) = campaign_app("+14155550134").await;
    let mut settings = always("", &assistant, &number);
    settings["time_zone"] = json!("Mars/Olympus");
    settings["window_start"] = json!("17:00");
    settings["window_end"] = json!("09:00");
    settings["days"] = json!(["funday"]);
    settings["max_concurrent"] = json!(0);
    settings["max_cps"] = json!(1000.0);
    settings["number_ids"] = json!(["nope"]);
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/campaigns",
        Some(settings),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let named = |body: &Value| -> Vec<String> {
        body["error"]["fields"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|f| f["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    // The window's end is checked against its start once both are times of day.
    let mut window = always("Window", &assistant, &number);
    window["window_start"] = json!("17:00");
    window["window_end"] = json!("09:00");
    let (status, refused) = api(&app, &key, Method::POST, "/api/v1/campaigns", Some(window)).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(named(&refused), ["window_end"], "{refused}");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    for f in [
        "name",
        "time_zone",
        "days",
        "max_concurrent",
        "max_cps",
        "number_ids",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM campaigns")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    assert_eq!(count, 0, "nothing stored");
}

/// Posts `file` as the campaign page's upload form does (multipart, no JavaScript).
async fn upload_file(app: &TestApp, campaign: &str, file: &[u8]) -> reqwest::Response {
    let boundary = "dial-test-boundary-c4mp41gn";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"country\"\r\n\r\nUS\r\n")
            .into_bytes();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    app.client
        .post(app.url(&format!("/api/campaigns/{campaign}/upload")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_previewed_before_anything_is_imported() {
    let (app, number, assistant, key) = campaign_app("+14155550135").await;
    let (_, created) = api(
        &app,
        &key,
        reqwest::Method::POST,
        "/api/v1/campaigns",
        Some(always("Upload", &assistant, &number)),
    )
    .await;
    let id = created["summary"]["id"].as_str().expect("id").to_string();
    let file = "\u{feff}name;phone;note\r\nAda;+14155550400;\"likes\nmornings\"\r\nBo;12;x\r\nCy;(415) 555-0401;y\r\n";
    let response = upload_file(&app, &id, file.as_bytes()).await;
    assert_eq!(response.status(), 303, "the upload goes to its preview");
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let upload = location.rsplit('/').next().expect("upload id").to_string();
    assert!(
        location.starts_with(&format!("/dashboard/campaigns/{id}/uploads/")),
        "{location}"
    );
    let preview: dial_app::model::UploadPreview = app
        .call(
            &app.client,
            "campaigns/upload-preview",
            &[("id", &id), ("upload", &upload)],
        )
        .await
        .expect("preview");
    assert_eq!((preview.good_rows, preview.bad_rows), (2, 1));
    assert_eq!(
        preview.problems[0].line, 4,
        "the editor's line, after the quoted newline"
    );
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM campaign_contacts")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    assert_eq!(count, 0, "nothing imported by the preview");
    let (status, _, page) = app.get_page(&app.client, &location).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Import 2 contacts"),
        "the preview page offers the import"
    );
    let _: String = app
        .call(
            &app.client,
            "campaigns/import",
            &[("id", &id), ("upload", &upload)],
        )
        .await
        .expect("import");
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM campaign_contacts")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    assert_eq!(count, 2);
    let variables: String =
        sqlx::query_scalar("SELECT variables FROM campaign_contacts WHERE phone = '+14155550400'")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("variables");
    assert_eq!(
        serde_json::from_str::<Value>(&variables).expect("json")["note"],
        "likes\nmornings"
    );
    // The upload is gone once imported.
    let again = app
        .call::<String>(
            &app.client,
            "campaigns/import",
            &[("id", &id), ("upload", &upload)],
        )
        .await;
    assert!(again.is_err());
    // A file that is not UTF-8 is refused with the reason, back on the campaign's page.
    let response = upload_file(&app, &id, b"phone\n\xff\xfe\n").await;
    assert_eq!(response.status(), 303);
    let (_, _, page) = app
        .get_page(&app.client, &format!("/dashboard/campaigns/{id}"))
        .await;
    assert!(page.contains("UTF-8"), "the refusal is shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_carrier_trunks_call_rate_is_shared_by_campaigns() {
    use reqwest::Method;
    let (app, number, assistant, key) = campaign_app("+14155550136").await;
    let refused = app
        .call::<String>(&app.client, "settings/twilio/cps", &[("outbound_cps", "0")])
        .await
        .expect_err("0");
    assert!(refused.field("outbound_cps").is_some(), "{refused:?}");
    let said: String = app
        .call(&app.client, "settings/twilio/cps", &[("outbound_cps", "2")])
        .await
        .expect("cps");
    assert!(said.contains("2 calls a second"), "{said}");
    // Two campaigns at 10 a second each share the trunk's 2 a second.
    let mut ids = Vec::new();
    for (n, name) in ["One", "Two"].iter().enumerate() {
        let (_, created) = api(
            &app,
            &key,
            Method::POST,
            "/api/v1/campaigns",
            Some(always(name, &assistant, &number)),
        )
        .await;
        let id = created["summary"]["id"].as_str().expect("id").to_string();
        let list: Vec<Value> = (0..6)
            .map(|i| json!({ "phone": format!("+141555506{n}{i}") }))
            .collect();
        api(
            &app,
            &key,
            Method::POST,
            &format!("/api/v1/campaigns/{id}/contacts"),
            Some(Value::Array(list)),
        )
        .await;
        ids.push(id);
    }
    let started = Instant::now();
    for id in &ids {
        let (status, body) = api(
            &app,
            &key,
            Method::POST,
            &format!("/api/v1/campaigns/{id}/start"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    for id in &ids {
        wait_for(&app, &key, id, "completion", |d| {
            d.summary.state == CampaignState::Completed
        })
        .await;
    }
    // 12 calls at 2 a second: at least 5 s from the first to the last.
    let (first, last): (i64, i64) =
        sqlx::query_as("SELECT MIN(started_at), MAX(started_at) FROM campaign_attempts")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("span");
    assert!(last - first >= 5, "12 attempts in {} s", last - first);
    assert!(started.elapsed() >= Duration::from_secs(5));
    let per_second: Vec<(i64, i64)> =
        sqlx::query_as("SELECT started_at, COUNT(*) FROM campaign_attempts GROUP BY started_at")
            .fetch_all(&app.state.db.pool)
            .await
            .expect("per second");
    assert!(
        per_second.iter().all(|(_, n)| *n <= 3),
        "never more than the rate (and one caught up): {per_second:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_from_the_agent_or_the_api_puts_the_number_on_the_do_not_call_list() {
    use reqwest::Method;
    let (app, number, assistant, key) = campaign_app("+14155550137").await;
    let (_, created) = api(
        &app,
        &key,
        Method::POST,
        "/api/v1/campaigns",
        Some(always("Opt-outs", &assistant, &number)),
    )
    .await;
    let id = created["summary"]["id"].as_str().expect("id").to_string();
    api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/contacts"),
        Some(json!([{ "phone": "+14155550500" }, { "phone": "+14155550501" }])),
    )
    .await;
    api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    let (_, livekit) = fakes(&app);
    let deadline = Instant::now() + Duration::from_secs(20);
    let rooms = loop {
        let live: Vec<_> = livekit
            .calls()
            .into_iter()
            .filter(|c| c.status == "active")
            .collect();
        if live.len() == 2 {
            break live;
        }
        assert!(Instant::now() < deadline, "both calls answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let call_of = |to: &'static str| {
        let app = &app;
        async move {
            let (id,): (String,) =
                sqlx::query_as("SELECT id FROM call_sessions WHERE to_number = $1")
                    .bind(to)
                    .fetch_one(&app.state.db.pool)
                    .await
                    .expect("call");
            id
        }
    };
    // The API: the callee of the first call asks.
    let first = call_of("+14155550500").await;
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/calls/{first}/opt-out"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "e164": "+14155550500", "added": true }));
    let (status, body) = api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/calls/{first}/opt-out"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["added"].clone()),
        (200, json!(false)),
        "said twice, listed once"
    );
    let (status, _) = api(&app, &key, Method::POST, "/api/v1/calls/nope/opt-out", None).await;
    assert_eq!(status, 404);

    // The agent: it leaves the second call's room with `dial.opt_out` set.
    let second = rooms
        .iter()
        .find(|c| c.to.ends_with("4155550501"))
        .expect("second call");
    let body = json!({
        "event": "participant_left",
        "id": "EV_optout",
        "createdAt": "1700000000",
        "room": { "sid": "RM_optout", "name": second.room },
        "participant": {
            "sid": "PA_agent", "identity": "agent-AJ_1", "state": "DISCONNECTED", "kind": "AGENT",
            "attributes": { "dial.opt_out": "true" }
        }
    });
    assert_eq!(Webhooks::for_app(&app).post(&body).await, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed: Vec<(String, String)> =
            sqlx::query_as("SELECT e164, source FROM do_not_call ORDER BY e164")
                .fetch_all(&app.state.db.pool)
                .await
                .expect("listed");
        if listed.len() == 2 {
            assert_eq!(
                listed[1],
                ("+14155550501".to_string(), "opted_out".to_string())
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's opt-out was not recorded: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(app
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "do_not_call.opt_out"));
    callees_hang_up(&app);
}
