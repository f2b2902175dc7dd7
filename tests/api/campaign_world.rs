//! Real `dial serve` processes on one database against fakes in this process, with a
//! campaign ready to start: the world of `campaign_processes.rs` (kill -9, two
//! processes) and of `benches/campaign_instances.rs` (two instances' throughput).

use crate::common::*;
use dial_app::server::db::Db;
use dial_fakes::{
    livekit::{CallTiming, FakeLiveKit},
    twilio::FakeTwilio,
};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const SID: &str = "AC0000000000000000000000000000ca11";
const TOKEN: &str = "ca11ca11ca11ca11ca11ca11ca11ca11";
const KEY: &str = "APIcampaigntest";
const SECRET: &str = "campaign-test-secret-0123456789";
const E164: &str = "+15105550111";

pub struct Dial {
    child: Child,
    pub port: u16,
}

impl Drop for Dial {
    fn drop(&mut self) {
        // SIGKILL: nothing of the process runs after this.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub async fn start(env: &[(String, String)]) -> Dial {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_dial"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DIAL_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dial");
    let dial = Dial { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return dial;
        }
        assert!(Instant::now() < deadline, "dial did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fakes, a database with an admin, a number assigned to an assistant, an API key, and
/// a campaign of `contacts` contacts ready to start.
pub struct World {
    _dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    pub db: Db,
    pub livekit: FakeLiveKit,
    _twilio: FakeTwilio,
    key: String,
    pub campaign: String,
    pub first: Option<Dial>,
}

/// The campaign calls `contacts` contacts at `max_cps` a second, at most `max_concurrent` at
/// once, through a trunk that admits `trunk_cps` a second.
pub async fn world(contacts: usize, max_concurrent: u32, trunk_cps: i64, max_cps: f64) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url(dir.path()).await;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let twilio = FakeTwilio::new();
    twilio.add_account(SID, TOKEN, "Campaign test");
    twilio.give_number(SID, E164).expect("number");
    let twilio_url = format!("http://{}", twilio.serve(loopback).await.expect("twilio"));
    let livekit = FakeLiveKit::new(KEY, SECRET);
    let livekit_url = format!("http://{}", livekit.serve(loopback).await.expect("livekit"));
    livekit.set_timing(CallTiming {
        ringing_after: Duration::from_millis(50),
        answer_after: Duration::from_millis(200),
        ..CallTiming::default()
    });
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", database_url.as_str()),
        ("DIAL_DATA_DIR", &dir.path().display().to_string()),
        (
            "DIAL_ENCRYPTION_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
        ("DIAL_TWILIO_API_BASE", &twilio_url),
        ("DIAL_TWILIO_TRUNKING_BASE", &twilio_url),
        ("DIAL_TWILIO_ACCOUNT_SID", SID),
        ("DIAL_TWILIO_AUTH_TOKEN", TOKEN),
        ("DIAL_TWILIO_SIP_ADDRESS", "dial-campaign.pstn.twilio.com"),
        ("DIAL_TWILIO_SIP_USERNAME", "dial"),
        ("DIAL_TWILIO_SIP_PASSWORD", "CampaignTest2026x"),
        ("DIAL_LIVEKIT_URL", &livekit_url),
        ("DIAL_LIVEKIT_API_KEY", KEY),
        ("DIAL_LIVEKIT_API_SECRET", SECRET),
        ("DIAL_LIVEKIT_SIP_URI", "campaign.sip.livekit.cloud"),
        ("DIAL_CAMPAIGN_LEASE_SECS", "2"),
        ("RUST_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let first = start(&env).await;
    livekit.set_webhook_url(Some(format!(
        "http://127.0.0.1:{}/webhooks/livekit",
        first.port
    )));
    let base = format!("http://127.0.0.1:{}", first.port);
    let client = new_client();
    let call = |endpoint: &str, form: Vec<(&str, String)>| {
        client
            .post(format!("{base}/api/{endpoint}"))
            .header("accept", "application/json")
            .form(&form)
            .send()
    };
    let ok = |r: reqwest::Response| async move {
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{status}: {body}");
        body
    };
    ok(call(
        "setup",
        vec![
            ("username", ADMIN.into()),
            ("password", ADMIN_PASSWORD.into()),
            ("password_confirm", ADMIN_PASSWORD.into()),
        ],
    )
    .await
    .expect("setup"))
    .await;
    ok(
        call("settings/twilio/save", vec![("auto_trunk", "on".into())])
            .await
            .expect("twilio"),
    )
    .await;
    ok(call("numbers/import", vec![]).await.expect("import")).await;
    let db = Db::connect(&database_url).await.expect("db");
    let number_id: String = sqlx::query_scalar("SELECT id FROM phone_numbers WHERE e164 = $1")
        .bind(E164)
        .fetch_one(&db.pool)
        .await
        .expect("number");
    let admin_id: String = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&db.pool)
        .await
        .expect("admin");
    sqlx::query(
        "INSERT INTO assistants (id, owner_id, name, agent_name, metadata, room_prefix, description, created_at, updated_at) \
         VALUES ('a1', $1, 'Reminders', 'reminder-agent', '{}', 'remind-', '', 0, 0)",
    )
    .bind(&admin_id)
    .execute(&db.pool)
    .await
    .expect("assistant");
    ok(call(
        "assignment/assign",
        vec![
            ("number_id", number_id.clone()),
            ("assistant_id", "a1".into()),
        ],
    )
    .await
    .expect("assign"))
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM provisioning_runs")
            .fetch_optional(&db.pool)
            .await
            .expect("run");
        if status.as_deref() == Some("done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "assignment did not finish: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query("UPDATE twilio_config SET outbound_cps = $1")
        .bind(trunk_cps)
        .execute(&db.pool)
        .await
        .expect("cps");
    let key: Value = serde_json::from_str(
        &ok(call("api-keys/create", vec![("name", "test".into())])
            .await
            .expect("key"))
        .await,
    )
    .expect("key json");
    let key = key["secret"].as_str().expect("secret").to_string();
    let api = reqwest::Client::new();
    let created: Value = api
        .post(format!("{base}/api/v1/campaigns"))
        .bearer_auth(&key)
        .json(&json!({
            "name": "Shared", "assistant_id": "a1", "number_ids": [number_id], "default_country": "US",
            "time_zone": "UTC", "use_contact_zone": false, "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "window_start": "00:00", "window_end": "24:00", "quiet_start": "00:00", "quiet_end": "24:00",
            "max_concurrent": max_concurrent, "max_cps": max_cps, "daily_cap": 3, "ringing_timeout_secs": 5,
            "max_duration_secs": 600,
            "retry": {
                "busy": { "retry": true, "delay_secs": 600, "max_attempts": 2 },
                "no_answer": { "retry": true, "delay_secs": 600, "max_attempts": 2 },
                "failed": { "retry": false, "delay_secs": 300, "max_attempts": 1 },
                "trunk_auth_failed": { "retry": false, "delay_secs": 900, "max_attempts": 1 }
            }
        }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created");
    let campaign = created["summary"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    let list: Vec<Value> = (0..contacts)
        .map(|i| json!({ "phone": format!("+1415555{:04}", 1000 + i) }))
        .collect();
    let added: Value = api
        .post(format!("{base}/api/v1/campaigns/{campaign}/contacts"))
        .bearer_auth(&key)
        .json(&list)
        .send()
        .await
        .expect("contacts")
        .json()
        .await
        .expect("added");
    assert_eq!(added["added"], contacts as u64, "{added}");
    World {
        _dir: dir,
        env,
        db,
        livekit,
        _twilio: twilio,
        key,
        campaign,
        first: Some(first),
    }
}

/// A contact not done: state, attempts, next attempt, lease owner and end, call, waiting for.
type LeftRow = (
    String,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

impl World {
    pub async fn start_campaign(&self, port: u16) {
        let response = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{port}/api/v1/campaigns/{}/start",
                self.campaign
            ))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("start");
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap_or_default()
        );
    }

    pub async fn counts(&self) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT COALESCE(result, state), COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 GROUP BY COALESCE(result, state)",
        )
        .bind(&self.campaign)
        .fetch_all(&self.db.pool)
        .await
        .expect("counts");
        rows.into_iter().collect()
    }

    /// The callees hang up answered calls after a moment; returns the most calls that
    /// were live at once while waiting for the campaign to complete.
    pub async fn run_to_completion(&self, hold: Duration, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let mut answered_at: HashMap<String, Instant> = HashMap::new();
        let mut most = 0;
        loop {
            let calls = self.livekit.calls();
            most = most.max(calls.iter().filter(|c| !c.ended).count());
            for c in calls.iter().filter(|c| c.status == "active" && !c.ended) {
                let since = *answered_at
                    .entry(c.call_id.clone())
                    .or_insert_with(Instant::now);
                if since.elapsed() >= hold {
                    self.livekit.hang_up_from_phone(&c.room, &c.identity);
                }
            }
            let state: String = sqlx::query_scalar("SELECT state FROM campaigns WHERE id = $1")
                .bind(&self.campaign)
                .fetch_one(&self.db.pool)
                .await
                .expect("state");
            if state == "completed" {
                return most;
            }
            if Instant::now() >= deadline {
                let left: Vec<LeftRow> = sqlx::query_as(
                    "SELECT state, attempts, next_attempt_at, lease_owner, lease_until, call_id, waiting_for FROM campaign_contacts WHERE campaign_id = $1 AND state <> 'done'",
                )
                .bind(&self.campaign)
                .fetch_all(&self.db.pool)
                .await
                .expect("left");
                panic!(
                    "the campaign did not complete: {:?}; left: {left:?}",
                    self.counts().await
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Calls the fake received per number.
    pub fn calls_per_number(&self) -> HashMap<String, usize> {
        let mut per: HashMap<String, usize> = HashMap::new();
        for c in self.livekit.calls() {
            *per.entry(c.to.trim_start_matches("tel:").to_string())
                .or_default() += 1;
        }
        per
    }
}
