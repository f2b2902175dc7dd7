//! What the API tests and the benchmarks that start real processes share: the admin's
//! credentials, a fresh database per test, and the HTTP client (`benches/campaign_instances.rs`
//! includes this file; the tests reach it through `helpers`).

use reqwest::redirect::Policy;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// Where the test databases go: a fresh SQLite file, or a fresh PostgreSQL database.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("DIAL_TEST_DATABASE").as_deref() {
        Ok("postgres") => {
            let admin_url = std::env::var("DIAL_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
            let name = format!("dial_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .expect("create test database");
            pool.close().await;
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or(admin_url);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("dial.db").display()),
    }
}

pub fn new_client() -> reqwest::Client {
    // A generous time-out turns a request that never returns into a failing test rather
    // than a run that never ends.
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("client")
}
