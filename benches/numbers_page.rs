//! Benchmark: the phone-numbers page and its list server function with 10,000 numbers.
//!
//!     cargo bench --bench numbers_page
//!     DIAL_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench numbers_page
//!
//! Starts the real application on loopback (optimised build), fills a fresh SQLite file
//! (and, when the variable is set, a fresh PostgreSQL database) with 10,000 numbers, then
//! times sequential requests from a client on the same machine: the server-side render of
//! /dashboard/phone-numbers (a page of 50) and POST /api/numbers/list, unfiltered and with a
//! text filter and a sort. Prints p50 and p99 per scenario.
//!
//! Deep pages are read by cursor (`after`, as the page's "Older →" link carries it): the
//! benchmark walks to page 100 and to the last page (200) sorted by label, then times
//! rendering them; the old page-number form (an OFFSET) is timed beside it. The text
//! filter is `LIKE '%…%'`: it reads every live number (no index serves it), and says so.
//! Last, where a page's time goes: the page with an empty list, the list read in-process,
//! and its capped count alone.

mod timing;

use dial::startup::Application;
use dial_app::model::{Me, NumberQuery, Role};
use dial_app::server::config::Config;
use std::time::Instant;

const NUMBERS: usize = 10_000;
const REQUESTS: usize = 400;

async fn run(backend: &str, database_url: String, dir: &std::path::Path) {
    let mut config = Config::for_data_dir(dir.to_path_buf());
    config.database_url = Some(database_url);
    let app = Application::build(config).await.expect("app");
    let base = format!("http://{}", app.address());
    let state = app.state().clone();
    tokio::spawn(app.run());

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let setup = client
        .post(format!("{base}/api/setup"))
        .header("accept", "application/json")
        .form(&[
            ("username", "admin"),
            ("password", "benchmark password"),
            ("password_confirm", "benchmark password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(setup.status().is_success());
    let admin: String = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&state.db.pool)
        .await
        .unwrap();

    let started = Instant::now();
    let mut tx = state.db.pool.begin().await.unwrap();
    for chunk in (0..NUMBERS).collect::<Vec<_>>().chunks(500) {
        let mut sql = String::from("INSERT INTO phone_numbers (id, e164, label, country, twilio_sid, owner_id, created_at, updated_at) VALUES ");
        let values: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "('{}', '+1{}{:07}', 'Line {i}', 'US', 'PN{:032x}', '{admin}', {}, {})",
                    uuid::Uuid::new_v4(),
                    200 + i % 700,
                    i,
                    i,
                    1_700_000_000 + i,
                    1_700_000_000 + i
                )
            })
            .collect();
        sql.push_str(&values.join(", "));
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    // Planner statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE would have them.
    sqlx::query("ANALYZE")
        .execute(&state.db.pool)
        .await
        .unwrap();
    println!("{backend}: {NUMBERS} numbers inserted in {:.1} s; {REQUESTS} sequential requests per scenario", started.elapsed().as_secs_f64());

    let page_showing = |path: &'static str, marker: &'static str| {
        let client = client.clone();
        let url = format!("{base}{path}");
        move || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client
                    .get(&url)
                    .header("accept", "text/html")
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body = response.text().await.unwrap();
                assert!(body.contains(marker), "{path}: the page shows {marker:?}");
                status
            }
        }
    };
    let page = |path: &'static str| page_showing(path, "numbers · page");
    let list = |form: &'static [(&'static str, &'static str)]| {
        let client = client.clone();
        let url = format!("{base}/api/numbers/list");
        move || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client
                    .post(&url)
                    .header("accept", "application/json")
                    .form(form)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let _ = response.bytes().await.unwrap();
                status
            }
        }
    };
    timing::time(
        REQUESTS,
        "page render /dashboard/phone-numbers",
        page("/dashboard/phone-numbers"),
    )
    .await;
    // The cursors of pages 100 and 200 (the last), walked to as a reader would.
    let mut cursors: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    while cursors.len() < 199 {
        let mut form = vec![("sort", "label".to_string()), ("dir", "asc".to_string())];
        if let Some(a) = &after {
            form.push(("after", a.clone()));
        }
        let page: dial_app::model::Page<serde_json::Value> = client
            .post(format!("{base}/api/numbers/list"))
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(next) = page.next else { break };
        cursors.push(next.clone());
        after = Some(next);
    }
    assert_eq!(cursors.len(), 199, "200 pages of 50");
    let deep = |n: usize| -> &'static str {
        Box::leak(
            format!(
                "/dashboard/phone-numbers?sort=label&dir=asc&page={n}&after={}",
                cursors[n - 2]
            )
            .into_boxed_str(),
        )
    };
    timing::time(
        REQUESTS,
        "page render, page 100 by label, by cursor",
        page(deep(100)),
    )
    .await;
    timing::time(
        REQUESTS,
        "page render, page 200 (last) by label, by cursor",
        page(deep(200)),
    )
    .await;
    timing::time(
        REQUESTS,
        "page render, page 100 by label desc, page number",
        page("/dashboard/phone-numbers?sort=label&dir=desc&page=100"),
    )
    .await;
    timing::time(REQUESTS, "list server fn, first page", list(&[])).await;

    // Where a page's time goes. The page with an empty list (`released=only`: none are
    // released) is everything but the numbers: HTTP, the session, the layout's and the
    // filters' reads, the render. The list read in-process is the numbers without those
    // (its capped count and its rows), and the count is timed alone.
    timing::time(
        REQUESTS,
        "page render, empty list (released=only)",
        page_showing(
            "/dashboard/phone-numbers?released=only",
            "No released numbers",
        ),
    )
    .await;
    let me = Me {
        id: admin.clone(),
        username: "admin".into(),
        role: Role::Admin,
    };
    let in_process = |query: NumberQuery| {
        let (state, me) = (state.clone(), me.clone());
        move || {
            let (state, me, query) = (state.clone(), me.clone(), query.clone());
            async move {
                let page = dial_app::server::numbers::list(&state, &me, &query)
                    .await
                    .unwrap();
                assert!(!page.items.is_empty(), "a page of numbers was read");
                reqwest::StatusCode::OK
            }
        }
    };
    timing::time(
        REQUESTS,
        "list in-process, first page",
        in_process(NumberQuery::default()),
    )
    .await;
    timing::time(
        REQUESTS,
        "list in-process, page 100 by label, by cursor",
        in_process(NumberQuery {
            sort: Some("label".into()),
            dir: Some("asc".into()),
            after: Some(cursors[98].clone()),
            ..NumberQuery::default()
        }),
    )
    .await;
    let pool = state.db.pool.clone();
    timing::time(
        REQUESTS,
        "the list's count alone (capped at 10,001 rows)",
        move || {
            let pool = pool.clone();
            async move {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM phone_numbers n WHERE n.released_at IS NULL LIMIT 10001) counted",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                assert_eq!(n, NUMBERS as i64);
                reqwest::StatusCode::OK
            }
        },
    )
    .await;
    timing::time(
        REQUESTS,
        "list server fn, text filter (LIKE %…%: scans) + sort",
        list(&[("q", "Line 99"), ("sort", "created"), ("dir", "desc")]),
    )
    .await;
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    run("SQLite", sqlite, dir.path()).await;
    if let Ok(url) = std::env::var("DIAL_BENCH_POSTGRES_URL") {
        let pg_dir = tempfile::tempdir().unwrap();
        run(
            "PostgreSQL",
            timing::fresh_postgres(&url).await,
            pg_dir.path(),
        )
        .await;
    }
}
