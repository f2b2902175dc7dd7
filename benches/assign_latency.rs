//! Benchmark: the wall time of assigning a number when every provider call takes 100 ms.
//!
//!     cargo bench --bench assign_latency
//!
//! Starts the real application in sandbox mode (its Twilio and LiveKit fakes on loopback),
//! adds 100 ms to every request either fake answers, and assigns numbers one after another:
//! the first assignment also creates the account's Elastic SIP trunk; the others find it.
//! Prints each run's wall time, the provider requests it made, and the number of
//! sequential round trips the wall time allows (wall ÷ 100 ms) against the requests it
//! would take one after another.

use dial::startup::Application;
use dial_app::{
    model::{Me, Role},
    server::{
        assignment, audit::Actor, config::Config, numbers, sandbox::DEFAULT_TWILIO_ACCOUNT_SID,
    },
};
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(100);
const NUMBERS: [&str; 6] = [
    "+14155550100",
    "+14155550101",
    "+14155550102",
    "+14155550103",
    "+14155550104",
    "+14155550105",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path().to_path_buf());
    config.sandbox = true;
    let app = Application::build(config).await.expect("app");
    let state = app.state().clone();
    tokio::spawn(app.run());
    let sandbox = state.sandbox.clone().expect("sandbox");

    let admin_id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) VALUES ($1, 'bench', 'x', 'admin', 0, 0)",
    )
    .bind(&admin_id)
    .execute(&state.db.pool)
    .await
    .expect("user");
    sqlx::query(
        "INSERT INTO assistants (id, owner_id, name, agent_name, metadata, room_prefix, description, created_at, updated_at) \
         VALUES ('bench', $1, 'Bench', 'bench-agent', '{}', 'call-', '', 0, 0)",
    )
    .bind(&admin_id)
    .execute(&state.db.pool)
    .await
    .expect("assistant");
    let me = Me {
        id: admin_id,
        username: "bench".into(),
        role: Role::Admin,
    };
    let actor = Actor::system("bench");
    for e164 in NUMBERS {
        let sid = sandbox
            .twilio
            .give_number(DEFAULT_TWILIO_ACCOUNT_SID, e164)
            .expect("number");
        numbers::import(&state, &actor, Some(&sid))
            .await
            .expect("import");
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM phone_numbers ORDER BY e164")
        .fetch_all(&state.db.pool)
        .await
        .expect("ids");

    sandbox.twilio.faults.set_latency(Some(LATENCY));
    sandbox.livekit.faults.set_latency(Some(LATENCY));
    println!(
        "assign with {} ms added to every provider request (SQLite):",
        LATENCY.as_millis()
    );
    let mut later = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        sandbox.twilio.faults.clear_requests();
        sandbox.livekit.faults.clear_requests();
        let started = Instant::now();
        let run = assignment::assign(&state, &me, &actor, id, "bench")
            .await
            .expect("assign");
        let wall = started.elapsed();
        let view = assignment::get_run(&state, &me, &run).await.expect("run");
        assert_eq!(view.status, dial_app::model::RunStatus::Done, "{view:?}");
        let requests =
            sandbox.twilio.faults.requests().len() + sandbox.livekit.faults.requests().len();
        let round_trips = wall.as_millis() / LATENCY.as_millis();
        println!(
            "  {} {:<34} wall {:>5} ms   {:>2} provider requests ({:>4} ms one after another)   ≈ {round_trips} sequential round trips",
            NUMBERS[i],
            if i == 0 { "(creates the Twilio trunk)" } else { "(trunk exists)" },
            wall.as_millis(),
            requests,
            requests as u128 * LATENCY.as_millis(),
        );
        if i > 0 {
            later.push(wall);
        }
    }
    later.sort();
    println!(
        "  median over the {} assignments with an existing trunk: {} ms",
        later.len(),
        later[later.len() / 2].as_millis()
    );
}
