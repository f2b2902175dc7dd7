//! Lists at any depth: the numbers, calls, audit and campaign-contact lists page by
//! cursor ("older/newer"), through the server functions, the JSON API and the pages
//! without JavaScript. Walking every page forwards and back meets each row once, in
//! order, while many rows share a sort key; an owner's walk stays in their rows; a cursor
//! that is not the list's is a 422, never a 500.

use crate::helpers::*;
use dial_app::model::{AuditEntry, CallRow, CreatedKey, NumberRow, Page};
use serde::de::DeserializeOwned;
use std::collections::HashSet;

/// Every page of a server-function list from the first, by `next`; then every page back
/// from the last, by `prev`. Returns the items in order (checking the walk back meets the
/// same pages).
async fn walk<T: DeserializeOwned + Clone + PartialEq + std::fmt::Debug>(
    app: &TestApp,
    client: &reqwest::Client,
    endpoint: &str,
    params: &[(&str, &str)],
) -> Vec<T> {
    let mut pages: Vec<Vec<T>> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut last_prev: Option<String>;
    loop {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        if let Some(c) = cursor.as_deref() {
            form.push(("after", c));
        }
        let page: Page<T> = app.call(client, endpoint, &form).await.expect("a page");
        if pages.is_empty() {
            assert_eq!(page.prev, None, "the first page has no newer page");
        } else {
            assert!(page.prev.is_some(), "a later page links back");
        }
        assert!(pages.len() < 1000, "the walk ends");
        last_prev = page.prev.clone();
        let next = page.next.clone();
        pages.push(page.items);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // Back from the last page: the same pages, in reverse.
    let mut back = pages.len() - 1;
    let mut cursor = last_prev;
    while let Some(c) = cursor {
        back -= 1;
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.push(("before", &c));
        let page: Page<T> = app.call(client, endpoint, &form).await.expect("a page");
        assert_eq!(page.items, pages[back], "page {back} read backwards");
        cursor = page.prev;
    }
    assert_eq!(back, 0, "the walk back reaches the first page");
    pages.concat()
}

/// `n` numbers straight into the database: three labels between them (so most share a
/// sort key), every third one the owner's.
async fn insert_numbers(app: &TestApp, n: usize, owner: &str) {
    for i in 0..n {
        let label = ["Alpha", "alpha", "Beta"][i % 3];
        sqlx::query(
            "INSERT INTO phone_numbers (id, e164, label, country, created_at, updated_at, owner_id) \
             VALUES ($1, $2, $3, 'US', $4, 1, $5)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(format!("+1206555{:04}", 1000 + i))
        .bind(label)
        .bind(1_700_000_000 + (i as i64 % 2))
        .bind((i % 3 == 0).then(|| owner.to_string()))
        .execute(&app.state.db.pool)
        .await
        .expect("insert number");
    }
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

fn assert_no_duplicates(ids: &[String]) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a row appeared on two pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_numbers_list_walks_by_cursor_in_every_sort_without_gaps_or_repeats() {
    let app = spawn_with_admin().await;
    let (owner_client, owner) = app.owner_client().await;
    insert_numbers(&app, 130, &owner).await;
    for (sort, dir) in [
        ("label", "asc"),
        ("label", "desc"),
        ("number", "asc"),
        ("created", "desc"),
        ("owner", "asc"),
        ("status", "desc"),
        ("country", "asc"),
    ] {
        let all: Vec<NumberRow> = walk(
            &app,
            &app.client,
            "numbers/list",
            &[("sort", sort), ("dir", dir)],
        )
        .await;
        let seen = ids(&all, |n| &n.id);
        assert_eq!(seen.len(), 130, "{sort} {dir}: every number once");
        assert_no_duplicates(&seen);
        if sort == "label" {
            let labels: Vec<String> = all.iter().map(|n| n.label.to_lowercase()).collect();
            let mut sorted = labels.clone();
            sorted.sort();
            if dir == "desc" {
                sorted.reverse();
            }
            assert_eq!(labels, sorted, "label {dir}");
        }
    }
    // The owner walks their own numbers only.
    let theirs: Vec<NumberRow> = walk(
        &app,
        &owner_client,
        "numbers/list",
        &[("sort", "label"), ("dir", "asc")],
    )
    .await;
    assert_eq!(theirs.len(), 44);
    assert!(theirs
        .iter()
        .all(|n| n.owner_id.as_deref() == Some(owner.as_str())));

    // A legacy page number still works, and says where its neighbours are.
    let second: Page<NumberRow> = app
        .call(&app.client, "numbers/list", &[("page", "2")])
        .await
        .expect("page 2");
    assert_eq!((second.page, second.items.len()), (2, 50));
    assert!(second.prev.is_some() && second.next.is_some());
    let third: Page<NumberRow> = app
        .call(
            &app.client,
            "numbers/list",
            &[("after", second.next.as_deref().unwrap_or_default())],
        )
        .await
        .expect("page 3");
    assert_eq!(third.items.len(), 30);
    assert_eq!(third.next, None);

    // A cursor of another sort, or none at all, is refused by name.
    let first: Page<NumberRow> = app
        .call(&app.client, "numbers/list", &[])
        .await
        .expect("first");
    let cursor = first.next.expect("a next page");
    for (params, field) in [
        (vec![("sort", "label"), ("after", cursor.as_str())], "after"),
        (vec![("before", "not a cursor")], "before"),
        (vec![("after", "eyJ4Ijp0cnVlfQ")], "after"),
    ] {
        let err = app
            .call::<Page<NumberRow>>(&app.client, "numbers/list", &params)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, dial_app::error::AppError::Invalid { errors } if errors[0].field == field),
            "{err:?}"
        );
    }
}

/// `n` calls: created in two seconds only (most share a key), every fourth the owner's,
/// every tenth a test call.
async fn insert_calls(app: &TestApp, n: usize, owner: &str) {
    for i in 0..n {
        sqlx::query(
            "INSERT INTO call_sessions (id, direction, owner_id, from_number, to_number, status, status_rank, is_test, created_at, updated_at) \
             VALUES ($1, 'inbound', $2, '+14155550999', '+14155550100', 'ended', 3, $3, $4, 1)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind((i % 4 == 0).then(|| owner.to_string()))
        .bind(i64::from(i % 10 == 0))
        .bind(1_700_000_000 + (i as i64 % 2))
        .execute(&app.state.db.pool)
        .await
        .expect("insert call");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calls_list_walks_newest_first_by_cursor_in_the_app_and_the_api() {
    let app = spawn_with_admin().await;
    let (owner_client, owner) = app.owner_client().await;
    insert_calls(&app, 160, &owner).await;
    let all: Vec<CallRow> = walk(&app, &app.client, "calls/list", &[]).await;
    let seen = ids(&all, |c| &c.id);
    assert_eq!(seen.len(), 144, "every call but the tests, once");
    assert_no_duplicates(&seen);
    assert!(
        all.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    let with_tests: Vec<CallRow> =
        walk(&app, &app.client, "calls/list", &[("tests", "include")]).await;
    assert_eq!(with_tests.len(), 160);
    let theirs: Vec<CallRow> = walk(&app, &owner_client, "calls/list", &[]).await;
    assert_eq!(theirs.len(), 32, "the owner's calls, tests left out");

    // The JSON API: the same cursors, as query parameters.
    let key: CreatedKey = app
        .call(&app.client, "api-keys/create", &[("name", "lists")])
        .await
        .expect("key");
    let api = reqwest::Client::new();
    let get = |query: String| {
        let api = api.clone();
        let url = app.url(&format!("/api/v1/calls{query}"));
        let secret = key.secret.clone();
        async move {
            let response = api
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            (
                status,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        }
    };
    let mut api_ids = Vec::new();
    let mut query = String::new();
    loop {
        let (status, body) = get(query.clone()).await;
        assert_eq!(status, 200, "{body}");
        let page: Page<CallRow> = serde_json::from_value(body).expect("a page of calls");
        api_ids.extend(page.items.iter().map(|c| c.id.clone()));
        match page.next {
            Some(next) => query = format!("?after={next}"),
            None => break,
        }
    }
    assert_eq!(
        api_ids, seen,
        "the API walks the same calls in the same order"
    );
    let (status, body) = get("?after=%25%25junk".into()).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("after"), "{body}");

    // The page without JavaScript: a cursor in the URL renders the next page; a bad one
    // is said in words, not a server error.
    let first: Page<CallRow> = app
        .call(&app.client, "calls/list", &[])
        .await
        .expect("first");
    let next = first.next.expect("a second page");
    let (status, _, html) = app
        .get_page(
            &app.client,
            &format!("/dashboard/calls?page=2&after={next}"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("page 2 of 3"), "the page says where it is");
    assert!(html.contains("rel=\"prev\""), "a link to the newer page");
    let (status, _, html) = app
        .get_page(&app.client, "/dashboard/calls?after=bm9wZQ")
        .await;
    assert!(status.as_u16() < 500, "{status}");
    assert!(html.contains("start again from the first page"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_walks_by_cursor_with_a_run_as_one_entry() {
    use dial_app::server::audit::{record, record_run, Actor};
    let app = spawn_with_admin().await;
    let actor = Actor::system("test");
    for i in 0..70 {
        record(
            &app.state.db,
            &actor,
            "test.entry",
            Some(&format!("{i}")),
            None,
        )
        .await
        .expect("record");
        if i == 30 {
            let run = "0b4c0d5e-1111-4222-8333-944455556666";
            for action in [
                "provisioning.run_started",
                "provisioning.step",
                "provisioning.run_done",
            ] {
                record_run(
                    &app.state.db,
                    run,
                    &actor,
                    action,
                    Some("+14155550100"),
                    Some(&format!("run {run}")),
                )
                .await
                .expect("record run");
            }
        }
    }
    let entries: Vec<AuditEntry> = walk(&app, &app.client, "audit", &[("page", "1")]).await;
    let seen: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
    assert_no_duplicates(&seen);
    assert!(
        entries.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    let runs: Vec<&AuditEntry> = entries.iter().filter(|e| e.run_id.is_some()).collect();
    assert_eq!(runs.len(), 1, "the run is one entry");
    assert_eq!(runs[0].steps.len(), 2);
    assert_eq!(
        entries.iter().filter(|e| e.action == "test.entry").count(),
        70
    );
}
