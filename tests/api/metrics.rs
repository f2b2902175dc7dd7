//! `GET /metrics` (Prometheus): off by default, bearer-protected on the main listener,
//! counting HTTP requests by route, webhooks and provider requests; and the request id
//! every request carries into the logs (`DIAL_LOG_FORMAT=json` on a real process).

use crate::{assignment::*, helpers::*};
use serde_json::{json, Value};
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const TOKEN: &str = "scrape-token-0123456789";

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match key.split_once('{') {
                Some((metric, rest)) => (metric, rest),
                None => (key, ""),
            };
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("scrape");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_webhooks_and_provider_requests_behind_the_token() {
    let mut spawn = Spawn::new().await;
    spawn.config.sandbox = true;
    spawn.config.metrics_token = Some(TOKEN.to_string().into());
    let app = spawn.start().await;
    app.setup_admin().await;

    // Without the token, or with another: 401, and the answer never echoes the token.
    let (status, body) = scrape(&app, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = scrape(&app, Some("scrape-token-0123456788")).await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains(TOKEN));
    let (status, body) = scrape(&app, Some(&format!("{TOKEN}x"))).await;
    assert_eq!(status, 401, "{body}");

    let (status, before) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(status, 200, "{before}");
    let healthz = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
    let twilio_ok = [("provider", "twilio"), ("result", "ok")];
    let livekit_recorded = [("provider", "livekit"), ("result", "recorded")];
    let livekit_refused = [("provider", "livekit"), ("result", "refused")];

    // HTTP requests by route: two health checks, and a server function whose route has no id.
    for _ in 0..2 {
        let r = reqwest::get(app.url("/healthz")).await.expect("healthz");
        assert_eq!(r.status(), 200);
    }
    // A provider request: importing a number from the (fake) Twilio account.
    let number = twilio_number(&app, "+14155550130").await;
    // A provisioning run (and its LiveKit requests).
    let admin = user_id(&app, ADMIN).await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .expect("assign");
    // Webhooks: one forged (refused), one recorded.
    let hooks = Webhooks::for_app(&app);
    let event = json!({
        "event": "room_started",
        "id": "EV_metrics_1",
        "createdAt": "1700000000",
        "room": { "sid": "RM_metrics", "name": "metrics-room" },
    });
    assert_eq!(hooks.post_signed_with("not-the-secret", &event).await, 401);
    assert_eq!(hooks.post(&event).await, 200);
    // A method of the client's own invention is not a label of its own.
    let r = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(b"INVENTED").unwrap(),
            app.url("/healthz"),
        )
        .send()
        .await
        .expect("invented method");
    assert_eq!(r.status(), 405);
    // A route with an id is counted under its pattern, never its path.
    let r = app
        .client
        .get(app.url(&format!("/dashboard/phone-numbers/{}", number.id)))
        .send()
        .await
        .expect("number page");
    assert_eq!(r.status(), 200);

    let (status, after) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(
        sample(&after, "dial_http_requests_total", &healthz)
            >= sample(&before, "dial_http_requests_total", &healthz) + 2.0,
        "{after}"
    );
    assert!(
        sample(
            &after,
            "dial_http_request_duration_seconds_count",
            &healthz[..2]
        ) >= sample(
            &before,
            "dial_http_request_duration_seconds_count",
            &healthz[..2]
        ) + 2.0,
        "{after}"
    );
    assert!(
        after.contains("route=\"/dashboard/phone-numbers/{"),
        "{after}"
    );
    assert!(!after.contains(&number.id), "an id in a label: {after}");
    assert!(!after.contains("INVENTED"), "{after}");
    assert!(
        sample(&after, "dial_http_requests_total", &[("method", "other")]) >= 1.0,
        "{after}"
    );
    assert!(
        sample(&after, "dial_provider_requests_total", &twilio_ok)
            > sample(&before, "dial_provider_requests_total", &twilio_ok),
        "{after}"
    );
    assert!(
        sample(
            &after,
            "dial_provider_request_duration_seconds_count",
            &twilio_ok
        ) > sample(
            &before,
            "dial_provider_request_duration_seconds_count",
            &twilio_ok
        ),
        "{after}"
    );
    assert!(
        sample(&after, "dial_webhooks_total", &livekit_recorded)
            > sample(&before, "dial_webhooks_total", &livekit_recorded),
        "{after}"
    );
    assert!(
        sample(&after, "dial_webhooks_total", &livekit_refused)
            > sample(&before, "dial_webhooks_total", &livekit_refused),
        "{after}"
    );
    let done = [("kind", "assign"), ("outcome", "done")];
    assert!(
        sample(&after, "dial_provisioning_runs_total", &done)
            > sample(&before, "dial_provisioning_runs_total", &done),
        "{after}"
    );
    let step = [("step", "dispatch_rule"), ("outcome", "ok")];
    assert!(
        sample(
            &after,
            "dial_provisioning_step_duration_seconds_count",
            &step
        ) > sample(
            &before,
            "dial_provisioning_step_duration_seconds_count",
            &step
        ),
        "{after}"
    );
    let livekit_ok = [
        ("provider", "livekit"),
        ("operation", "create_dispatch_rule"),
        ("result", "ok"),
    ];
    assert!(
        sample(&after, "dial_provider_requests_total", &livekit_ok)
            > sample(&before, "dial_provider_requests_total", &livekit_ok),
        "{after}"
    );
    assert!(
        sample(&after, "dial_db_pool_max_connections", &[]) >= 1.0,
        "{after}"
    );
    assert!(
        after.contains("# TYPE dial_http_requests_total counter"),
        "{after}"
    );
    assert!(
        after.contains("# TYPE dial_http_request_duration_seconds histogram"),
        "{after}"
    );
    // No secret of the sandbox's reaches the exposition.
    let sandbox = app.state.sandbox().expect("sandbox");
    assert!(!after.contains(&sandbox.credentials.livekit_api_secret));
    assert!(!after.contains(TOKEN));
    // Nor the log.
    assert!(!captured_logs().contains(TOKEN));
}

/// The calls in the app's database by direction and outcome, as `dial_calls` names them.
async fn calls_in_database(app: &TestApp) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "SELECT direction, COALESCE(outcome, CASE WHEN status <> 'ended' THEN 'open' \
         WHEN answered_at IS NOT NULL THEN 'completed' ELSE 'ended_before_answer' END), COUNT(*) \
         FROM call_sessions GROUP BY 1, 2",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("calls")
}

/// Scrapes until `dial_calls` says what the database says (the recorder is the test
/// binary's, so another test's scrape may set the gauge between this one's reading and
/// rendering it); returns the last scrape.
async fn dial_calls_match_the_database(app: &TestApp, expect_open: bool) -> String {
    let mut last = String::new();
    for _ in 0..5 {
        let expected = calls_in_database(app).await;
        let (status, text) = scrape(app, Some(TOKEN)).await;
        assert_eq!(status, 200, "{text}");
        let open_in_db: i64 = expected
            .iter()
            .filter(|(_, outcome, _)| outcome == "open")
            .map(|(_, _, count)| count)
            .sum();
        let matches = expected.iter().all(|(direction, outcome, count)| {
            sample(
                &text,
                "dial_calls",
                &[("direction", direction), ("outcome", outcome)],
            ) == *count as f64
        }) && sample(&text, "dial_calls", &[("outcome", "open")])
            == open_in_db as f64;
        if matches && (open_in_db > 0) == expect_open {
            return text;
        }
        last = text;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "dial_calls is not what the database holds ({:?}): {last}",
        calls_in_database(app).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_campaign_dials_and_duplicate_webhooks() {
    use reqwest::Method;
    let mut spawn = Spawn::new().await;
    spawn.config.sandbox = true;
    spawn.config.twilio_timeout = Duration::from_secs(2);
    spawn.config.livekit_timeout = Duration::from_secs(2);
    spawn.config.metrics_token = Some(TOKEN.to_string().into());
    let app = spawn.start().await;
    app.setup_admin().await;
    let (number, assistant, key) =
        crate::campaigns::ready_for_campaigns(&app, "+12065550118").await;
    lift_call_rate_limits(&app);
    let (_, before) = scrape(&app, Some(TOKEN)).await;

    // A call placed from the number: counted by direction while it is open, then by its
    // outcome once it ended (and no longer open).
    let _: dial_app::model::CallRow = app
        .call(
            &app.client,
            "calls/place",
            &[("number_id", number.as_str()), ("to", "+14155550199")],
        )
        .await
        .expect("place a call");
    dial_calls_match_the_database(&app, true).await;
    // Answered, then hung up by the callee: `completed` (its stored outcome stays empty).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answered: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM call_sessions WHERE answered_at IS NOT NULL")
                .fetch_one(&app.state.db.pool)
                .await
                .expect("answered calls");
        if answered == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the call was never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    every_call_ends(&app).await;
    let ended = dial_calls_match_the_database(&app, false).await;
    assert!(
        sample(
            &ended,
            "dial_calls",
            &[("direction", "outbound"), ("outcome", "completed")]
        ) >= 1.0,
        "{ended}"
    );

    // A tiny campaign: one contact, dialled once.
    let (status, created) = crate::campaigns::api(
        &app,
        &key,
        Method::POST,
        "/api/v1/campaigns",
        Some(crate::campaigns::always("Metrics", &assistant, &number)),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["summary"]["id"].as_str().expect("id").to_string();
    let (status, added) = crate::campaigns::api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/contacts"),
        Some(json!([{ "phone": "+14155550210", "name": "Ada" }])),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    let (status, started) = crate::campaigns::api(
        &app,
        &key,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{started}");
    crate::campaigns::wait_for(&app, &key, &id, "the contact's call", |d| {
        d.summary.counts.done == 1
    })
    .await;

    // One LiveKit webhook delivered twice: recorded, then a duplicate.
    let hooks = Webhooks::for_app(&app);
    let event = json!({
        "event": "room_started",
        "id": "EV_metrics_twice",
        "createdAt": "1700000000",
        "room": { "sid": "RM_metrics_twice", "name": "metrics-twice" },
    });
    for _ in 0..2 {
        assert_eq!(hooks.post(&event).await, 200);
    }

    let (_, after) = scrape(&app, Some(TOKEN)).await;
    let placed = [("result", "placed")];
    assert!(
        sample(&after, "dial_campaign_dials_total", &placed)
            >= sample(&before, "dial_campaign_dials_total", &placed) + 1.0,
        "{after}"
    );
    let duplicate = [("provider", "livekit"), ("result", "duplicate")];
    assert!(
        sample(&after, "dial_webhooks_total", &duplicate)
            >= sample(&before, "dial_webhooks_total", &duplicate) + 1.0,
        "{after}"
    );
    // The campaign's call is a call too.
    every_call_ends(&app).await;
    let text = dial_calls_match_the_database(&app, false).await;
    assert!(
        sample(&text, "dial_calls", &[("direction", "outbound")]) >= 2.0,
        "the call placed and the campaign's: {text}"
    );
}

/// Hangs up (as the callee) until no call of the app is open.
async fn every_call_ends(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        crate::campaigns::callees_hang_up(app);
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM call_sessions WHERE status <> 'ended'")
                .fetch_one(&app.state.db.pool)
                .await
                .expect("open calls");
        if open == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "a call never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_served_unless_configured() {
    let app = spawn_app().await;
    let (status, _) = scrape(&app, None).await;
    assert_eq!(status, 404);
    let (status, _) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_has_an_id_returned_to_the_client() {
    let app = spawn_app().await;
    let r = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("x-request-id", "client-chosen-id-1")
        .send()
        .await
        .expect("healthz");
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("client-chosen-id-1")
    );
    let r = reqwest::get(app.url("/healthz")).await.expect("healthz");
    let id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID: {id:?}");
    let r = reqwest::get(app.url("/healthz")).await.expect("healthz");
    assert_ne!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(id.as_str()),
        "each request gets its own id"
    );
}

/// A real `dial serve --sandbox` with `DIAL_LOG_FORMAT=json` and `/metrics` on an address
/// of its own: every log line is a JSON object, and the provider request a request caused
/// is logged with that request's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_name_the_request_behind_each_provider_request() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url(dir.path()).await;
    let port = free_port();
    let metrics_port = free_port();
    let log_path = dir.path().join("dial.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dial"))
        .args(["serve", "--sandbox"])
        .env("DATABASE_URL", &database_url)
        .env("DIAL_DATA_DIR", dir.path())
        .env("DIAL_LISTEN", format!("127.0.0.1:{port}"))
        .env("DIAL_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
        .env("DIAL_LOG_FORMAT", "json")
        .env("DIAL_LOG", "info")
        .env(
            "DIAL_ENCRYPTION_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start dial");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("{base}/healthz"))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "dial did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = new_client();
    let r = client
        .post(format!("{base}/api/setup"))
        .header("accept", "application/json")
        .form(&[
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("password_confirm", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("setup");
    assert!(r.status().is_success(), "{}", r.status());
    // Importing asks the sandbox's Twilio for the account's numbers.
    let r = client
        .post(format!("{base}/api/numbers/import"))
        .header("accept", "application/json")
        .header("x-request-id", "json-log-test-req-1")
        .form(&Vec::<(String, String)>::new())
        .send()
        .await
        .expect("import");
    assert!(r.status().is_success(), "{}", r.status());
    // The separate metrics address needs no token; the main listener has no /metrics.
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap_or_default();
    assert!(
        sample(
            &text,
            "dial_provider_requests_total",
            &[("provider", "twilio")]
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        reqwest::get(format!("{base}/metrics"))
            .await
            .expect("metrics")
            .status(),
        404
    );
    let _ = child.kill();
    let _ = child.wait();

    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let provider = lines
        .iter()
        .find(|l| {
            l["fields"]["message"] == "provider request"
                && l["spans"].as_array().is_some_and(|spans| {
                    spans
                        .iter()
                        .any(|s| s["name"] == "request" && s["id"] == "json-log-test-req-1")
                })
        })
        .unwrap_or_else(|| panic!("no provider request logged with the request's id:\n{logs}"));
    assert_eq!(provider["fields"]["provider"], "twilio");
    assert!(provider["level"].is_string() && provider["timestamp"].is_string());
    // The sandbox's credentials are never logged.
    assert!(!logs.contains(dial_app::server::sandbox::DEFAULT_TWILIO_AUTH_TOKEN));
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
