//! The do-not-call list: admins add, import and remove numbers; owners and other sites
//! cannot; bad input changes nothing and says why.

use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::{AuditEntry, DoNotCallEntry, DoNotCallSource, Page},
};
use reqwest::{header, StatusCode};

const PAGE: &str = "/dashboard/settings/admin/do-not-call";
const IMPORT: &str = "/api/do-not-call/import";

async fn listed(app: &TestApp) -> Vec<DoNotCallEntry> {
    let page: Page<DoNotCallEntry> = app
        .call(&app.client, "do-not-call/list", &[])
        .await
        .expect("list");
    page.items
}

async fn numbers(app: &TestApp) -> Vec<String> {
    let mut numbers: Vec<String> = listed(app).await.into_iter().map(|e| e.e164).collect();
    numbers.sort();
    numbers
}

/// Posts `file` as the import form does (multipart, as a browser without JavaScript).
async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    file: &[u8],
    origin: Option<&str>,
) -> reqwest::Response {
    let boundary = "dial-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"country\"\r\n\r\nUS\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\nContent-Type: text/csv\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = client
        .post(app.url(IMPORT))
        .header(header::ACCEPT, "text/html")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    request.send().await.expect("upload")
}

/// The page after an import's redirect, as the browser shows it.
async fn page_after(app: &TestApp, response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(PAGE)
    );
    let (status, _, html) = app.get_page(&app.client, PAGE).await;
    assert_eq!(status, StatusCode::OK);
    html
}

#[tokio::test]
async fn admins_add_and_remove_numbers_and_bad_ones_are_refused() {
    let app = spawn_with_admin().await;
    let said: String = app
        .call(
            &app.client,
            "do-not-call/add",
            &[
                ("number", "(415) 555-0100"),
                ("country", "US"),
                ("note", "asked by email"),
            ],
        )
        .await
        .expect("add");
    assert!(said.contains("+1 (415) 555-0100"), "{said}");
    let again: String = app
        .call(
            &app.client,
            "do-not-call/add",
            &[("number", "+14155550100")],
        )
        .await
        .expect("add again");
    assert!(again.contains("already"), "{again}");
    let entries = listed(&app).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].e164, "+14155550100");
    assert_eq!(entries[0].source, DoNotCallSource::Added);
    assert_eq!(entries[0].note, "asked by email");
    assert_eq!(entries[0].added_by.as_deref(), Some(ADMIN));

    for (number, country) in [("not a number", "US"), ("4155550101", ""), ("+1 415", "US")] {
        let refused = app
            .call::<String>(
                &app.client,
                "do-not-call/add",
                &[("number", number), ("country", country)],
            )
            .await
            .unwrap_err();
        assert!(refused.field("number").is_some(), "{number}: {refused:?}");
    }
    let long = "x".repeat(201);
    let refused = app
        .call::<String>(
            &app.client,
            "do-not-call/add",
            &[("number", "+14155550102"), ("note", &long)],
        )
        .await
        .unwrap_err();
    assert!(refused.field("note").is_some(), "{refused:?}");
    assert_eq!(numbers(&app).await, ["+14155550100"]);

    let removed: String = app
        .call(
            &app.client,
            "do-not-call/remove",
            &[("e164", "+14155550100")],
        )
        .await
        .expect("remove");
    assert!(removed.contains("may call it again"), "{removed}");
    assert!(listed(&app).await.is_empty());
    let gone = app
        .call::<String>(
            &app.client,
            "do-not-call/remove",
            &[("e164", "+14155550100")],
        )
        .await
        .unwrap_err();
    assert!(matches!(gone, AppError::NotFound { .. }), "{gone:?}");

    let log: Page<AuditEntry> = app
        .call(&app.client, "audit", &[("page", "1")])
        .await
        .unwrap();
    let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"do_not_call.add"), "{actions:?}");
    assert!(actions.contains(&"do_not_call.remove"), "{actions:?}");
}

#[tokio::test]
async fn an_import_adds_the_good_rows_and_names_each_bad_one() {
    let app = spawn_with_admin().await;
    app.call::<String>(
        &app.client,
        "do-not-call/add",
        &[("number", "+14155550103")],
    )
    .await
    .expect("add");
    let csv = "\u{feff}Name;Phone;Reason\r\nAda;+1 415 555 0100;\"asked,\r\ntwice\"\r\nBob;(415) 555-0101;\r\nCy;not a number;\r\nDi;+14155550100;\r\nEd;;\r\nFay;+14155550103;\r\n";
    let html = page_after(&app, upload(&app, &app.client, csv.as_bytes(), None).await).await;
    assert!(
        html.contains(
            "Added 2 numbers to the do-not-call list. 1 was already on it. 3 rows were not added"
        ),
        "{html}"
    );
    assert!(
        html.contains("line 5 (\u{201c}not a number\u{201d})"),
        "{html}"
    );
    assert!(html.contains("line 6 (\u{201c}+14155550100\u{201d}): the same number as line 2"));
    assert!(html.contains("line 7: no phone number"));
    assert_eq!(
        numbers(&app).await,
        ["+14155550100", "+14155550101", "+14155550103"]
    );
    let ada = listed(&app)
        .await
        .into_iter()
        .find(|e| e.e164 == "+14155550100")
        .expect("Ada");
    assert_eq!(ada.source, DoNotCallSource::Imported);
    assert_eq!(ada.note, "Ada");
    // The message was for that visit only.
    let (_, _, again) = app.get_page(&app.client, PAGE).await;
    assert!(!again.contains("Added 2 numbers"));
}

#[tokio::test]
async fn a_file_that_cannot_be_read_adds_nothing_and_says_why() {
    let app = spawn_with_admin().await;
    for (file, says) in [
        (
            &b"phone\n+14155550100\n\xff\xfe\xfd\n"[..],
            "Line 3 is not UTF-8",
        ),
        (&b"name,email\nAda,ada@example.com\n"[..], "No phone column"),
        (&b""[..], "Choose a CSV file to import"),
    ] {
        let html = page_after(&app, upload(&app, &app.client, file, None).await).await;
        assert!(html.contains(says), "{says}: {html}");
        // The banner itself (the message also travels in the page's resource data).
        let at = html.find(&format!("<span>{says}")).unwrap_or(0);
        assert!(
            html[..at].rfind("banner-error") > html[..at].rfind("banner-success"),
            "shown as an error: {}",
            &html[at.saturating_sub(300)..at]
        );
    }
    let big = vec![b'1'; dial_app::server::contact_csv::MAX_BYTES + 70 * 1024];
    let response = upload(&app, &app.client, &big, None).await;
    let html = page_after(&app, response).await;
    assert!(html.contains("larger than 32 MB"), "{html}");
    assert!(listed(&app).await.is_empty());
}

#[tokio::test]
async fn owners_and_other_sites_cannot_touch_the_list() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;
    let refused = app
        .call::<String>(&owner, "do-not-call/add", &[("number", "+14155550100")])
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::Forbidden), "{refused:?}");
    assert!(app
        .call::<Page<DoNotCallEntry>>(&owner, "do-not-call/list", &[])
        .await
        .is_err());
    let csv = b"phone\n+14155550100\n";
    assert_eq!(
        upload(&app, &owner, csv, None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        upload(&app, &app.client, csv, Some("https://evil.example"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let anonymous = upload(&app, &new_client(), csv, None).await;
    assert_ne!(
        anonymous
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(PAGE),
        "not imported for a visitor"
    );
    assert!(listed(&app).await.is_empty());
}

#[tokio::test]
async fn a_large_import_adds_every_row() {
    let app = spawn_with_admin().await;
    // Several statements' worth of rows (an import inserts a few hundred at a time).
    let mut csv = String::from("phone\n");
    for i in 0..1_234 {
        csv.push_str(&format!("+1415{:07}\n", 2_000_000 + i));
    }
    // One number twice: the second is named, not added.
    csv.push_str("+14152000000\n");
    let html = page_after(&app, upload(&app, &app.client, csv.as_bytes(), None).await).await;
    assert!(
        html.contains("Added 1234 numbers to the do-not-call list. 1 row was not added: line 1236"),
        "{html}"
    );
    let page: Page<DoNotCallEntry> = app
        .call(&app.client, "do-not-call/list", &[])
        .await
        .expect("list");
    assert_eq!(page.total, 1_234);
}
