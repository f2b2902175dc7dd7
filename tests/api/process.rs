//! The real `dial` binary under abuse: a flood of sign-in attempts (peak memory, hashes
//! done), SIGTERM with a live-update stream open (time to exit), and the first-run page on
//! an address other machines can reach (setup code, unknown hosts).

use crate::helpers::*;
use dial_app::server::db::Db;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

struct Dial {
    child: Child,
    base: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
    db_url: String,
}

impl Drop for Dial {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dial {
    /// `dial serve` on a fresh database, listening on `ip` (port chosen here).
    async fn start(ip: &str) -> Dial {
        let dir = tempfile::tempdir().unwrap();
        let db_url = fresh_database_url(dir.path()).await;
        let port = std::net::TcpListener::bind(format!("{ip}:0"))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let log = dir.path().join("dial.log");
        let child = Command::new(env!("CARGO_BIN_EXE_dial"))
            .arg("serve")
            .env("DATABASE_URL", &db_url)
            .env("DIAL_DATA_DIR", dir.path().join("data"))
            .env(
                "DIAL_ENCRYPTION_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            )
            .env("DIAL_LISTEN", format!("{ip}:{port}"))
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dial");
        let dial = Dial {
            child,
            base: format!("http://{ip}:{port}"),
            log,
            _dir: dir,
            db_url,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if reqwest::get(format!("{}/healthz", dial.base))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return dial;
            }
            assert!(Instant::now() < deadline, "dial did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident memory so far, in MiB (VmHWM).
    fn peak_rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib / 1024
    }

    async fn setup(&self, client: &reqwest::Client, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("password_confirm", ADMIN_PASSWORD),
        ];
        form.extend_from_slice(extra);
        client
            .post(format!("{}/api/setup", self.base))
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn db(&self) -> Db {
        Db::connect(&self.db_url).await.unwrap()
    }
}

async fn count(db: &Db, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_passwords_hashes_only_what_the_limits_allow_in_little_memory() {
    let dial = Dial::start("127.0.0.1").await;
    assert!(dial.setup(&new_client(), &[]).await.status().is_success());
    // 96 wrong passwords for one user at once, from one address.
    let client = new_client();
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..96 {
        let client = client.clone();
        let url = format!("{}/api/login", dial.base);
        attempts.spawn(async move {
            client
                .post(url)
                .header("accept", "application/json")
                .form(&[("username", ADMIN), ("password", &format!("wrong {i}"))])
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = attempts.join_next().await {
        statuses.push(status.unwrap());
    }
    let wrong = statuses.iter().filter(|s| **s == 422).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        wrong + throttled,
        96,
        "every attempt answered: {statuses:?}"
    );
    assert!(
        wrong <= dial_app::server::users::MAX_FAILURES_PER_USER as usize,
        "{wrong} passwords were checked"
    );
    let peak = dial.peak_rss_mib();
    eprintln!("login flood: {wrong} checked, {throttled} throttled, peak RSS {peak} MiB");
    assert!(peak < 300, "peak RSS {peak} MiB");
    let db = dial.db().await;
    assert_eq!(count(&db, "login.failed").await, wrong as i64);
    assert!(
        count(&db, "login.throttled").await <= 1,
        "refusals are counted, not logged one by one"
    );
    // The flood does not lock the admin out: the right password from another address
    // still signs in (the throttle is per user name *and* address).
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let login = elsewhere
        .post(format!("{}/api/login", dial.base))
        .header("accept", "application/json")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{}", login.status());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_live_stream_open_exits_in_bounded_time() {
    let mut dial = Dial::start("127.0.0.1").await;
    let client = new_client();
    assert!(dial.setup(&client, &[]).await.status().is_success());
    let mut stream = client
        .get(format!("{}/events/calls", dial.base))
        .send()
        .await
        .unwrap();
    assert!(stream.status().is_success());
    let pid = dial.child.id().to_string();
    let sent = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = sent + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = dial.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 15 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = sent.elapsed();
    eprintln!("SIGTERM to exit: {} ms", took.as_millis());
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // The stream ended rather than being left hanging.
    let rest = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the event stream was closed");
    let log = dial.log();
    assert!(log.contains("shutting down"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_unknown_host_names_are_refused() {
    let dial = Dial::start("127.0.0.1").await;
    // DNS rebinding: the attacker's name resolves to Dial; Host and Origin both say it.
    let response = new_client()
        .post(format!("{}/api/setup", dial.base))
        .header("host", "evil.example")
        .header("origin", "http://evil.example")
        .header("accept", "application/json")
        .form(&[
            ("username", "mallory"),
            ("password", "mallory's password"),
            ("password_confirm", "mallory's password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("DIAL_ALLOWED_HOSTS"));
    let db = dial.db().await;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(users, 0, "no administrator was created");
    // localhost names are served.
    let page = new_client()
        .get(format!("{}/healthz", dial.base))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert!(page.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_first_admin_needs_the_setup_code_from_the_log() {
    // 0.0.0.0: reachable from other machines.
    let mut dial = Dial::start("0.0.0.0").await;
    dial.base = dial.base.replace("0.0.0.0", "127.0.0.1");
    let log = dial.log();
    let code = log
        .split("setup_code=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no setup code in the log: {log}"));
    let client = new_client();
    let refused = dial.setup(&client, &[]).await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("setup_code"));
    let wrong = dial
        .setup(&client, &[("setup_code", "AAAA-BBBB-CCCC")])
        .await;
    assert_eq!(wrong.status(), 422);
    let typed = code.to_lowercase().replace('-', " ");
    let created = dial.setup(&client, &[("setup_code", &typed)]).await;
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dial = Dial::start("127.0.0.1").await;
    let address = dial.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    // Half a request head, then silence (slowloris).
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was still open after 20 s");
    let after = started.elapsed();
    assert!(
        after >= Duration::from_secs(5)
            && after <= dial_app_header_timeout() + Duration::from_secs(5),
        "closed after {after:?}"
    );
    // The server still answers everyone else.
    assert!(reqwest::get(format!("{}/healthz", dial.base))
        .await
        .unwrap()
        .status()
        .is_success());
}

fn dial_app_header_timeout() -> Duration {
    dial::startup::HEADER_READ_TIMEOUT
}
