//! What the page benchmarks share: timing a request many times (p50 and p99), and a fresh
//! PostgreSQL database next to the one named.

use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Sends `request` 30 times to warm up, then `requests` times, and prints p50 and p99.
pub async fn time<F, Fut>(requests: usize, label: &str, mut request: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::StatusCode>,
{
    for _ in 0..30 {
        request().await;
    }
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let status = request().await;
        samples.push(started.elapsed());
        assert!(status.is_success(), "{label}: HTTP {status}");
    }
    samples.sort();
    println!(
        "  {label:<52} p50 {:>7.2} ms   p99 {:>7.2} ms",
        percentile(&samples, 0.50).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0
    );
}

/// A new database on the server of `url`; its URL.
pub async fn fresh_postgres(url: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url)
        .await
        .expect("connect to PostgreSQL");
    let name = format!("dial_test_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create database");
    let base = url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or_default();
    format!("{base}/{name}")
}
