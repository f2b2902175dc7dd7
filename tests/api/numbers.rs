use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::AssignmentStatus,
    model::{AvailableNumbers, AvailableRow, ImportCandidate, NumberRow, Page},
    server::db::Backend,
};
use dial_fakes::{faults::Fault, twilio::FakeTwilio};
use std::net::SocketAddr;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "f00dbabe0123456789abcdef01234534";

/// An app whose Twilio settings point at a fake Twilio account, with the admin signed in.
async fn app_with_twilio() -> (TestApp, FakeTwilio) {
    let fake = FakeTwilio::new();
    fake.add_account(SID, TOKEN, "Numbers test");
    fake.add_account(
        "AC99999999999999999999999999999999",
        "99999999999999999999999999999999",
        "Someone else",
    );
    let addr = fake
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut spawn = Spawn::new().await;
    spawn.config.twilio_api_base = format!("http://{addr}");
    spawn.config.twilio_trunking_base = format!("http://{addr}");
    let app = spawn.start().await;
    app.setup_admin().await;
    app.call::<serde_json::Value>(
        &app.client,
        "settings/twilio/save",
        &[("account_sid", SID), ("auth_token", TOKEN)],
    )
    .await
    .unwrap();
    (app, fake)
}

async fn list(app: &TestApp, client: &reqwest::Client, form: &[(&str, &str)]) -> Page<NumberRow> {
    app.call(client, "numbers/list", form).await.unwrap()
}

async fn buy(
    app: &TestApp,
    client: &reqwest::Client,
    e164: &str,
    label: &str,
) -> Result<NumberRow, AppError> {
    app.call(client, "numbers/buy", &[("e164", e164), ("label", label)])
        .await
}

/// A number Twilio sells only with an address and a regulatory bundle: Dial says what is
/// missing and where to create it, and records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regulated_number_is_refused_with_what_twilio_needs() {
    let (app, fake) = app_with_twilio().await;
    let london: Vec<AvailableRow> = app
        .call::<AvailableNumbers>(
            &app.client,
            "numbers/search",
            &[("country", "GB"), ("kind", "local")],
        )
        .await
        .unwrap()
        .numbers;
    let refused = buy(&app, &app.client, &london[0].e164, "London")
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains("United Kingdom")
            && message.contains("Regulatory Compliance")
            && message.contains("21631"),
        "{message}"
    );
    assert!(fake.numbers(SID).is_empty());
    let page: Page<NumberRow> = app.call(&app.client, "numbers/list", &[]).await.unwrap();
    assert_eq!(page.total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_then_buy_records_the_number_for_its_buyer() {
    let (app, fake) = app_with_twilio().await;
    let found: Vec<AvailableRow> = app
        .call::<AvailableNumbers>(
            &app.client,
            "numbers/search",
            &[
                ("country", "US"),
                ("kind", "local"),
                ("area_code", "415"),
                ("voice", "on"),
            ],
        )
        .await
        .unwrap()
        .numbers;
    assert!(!found.is_empty() && found.iter().all(|n| n.e164.starts_with("+1415")));
    assert_eq!(found[0].locality, "San Francisco");
    let bad = app
        .call::<AvailableNumbers>(
            &app.client,
            "numbers/search",
            &[("country", "GB"), ("kind", "local"), ("area_code", "20")],
        )
        .await
        .unwrap_err();
    assert!(bad.field("area_code").unwrap().contains("3 digits"));

    let number = buy(&app, &app.client, "+1 (415) 555-0100", "Front desk")
        .await
        .unwrap();
    assert_eq!(number.e164.as_str(), "+14155550100");
    assert_eq!(number.label, "Front desk");
    assert_eq!(number.owner.as_deref(), Some(ADMIN));
    assert_eq!(number.country, "US");
    assert_eq!(number.assignment_status, AssignmentStatus::Unassigned);
    let at_twilio = fake.numbers(SID);
    assert_eq!(at_twilio.len(), 1);
    assert_eq!(at_twilio[0].friendly_name, "Front desk");
    assert_eq!(
        number.twilio_sid.as_deref(),
        Some(at_twilio[0].sid.as_str())
    );

    let again = buy(&app, &app.client, "+14155550100", "")
        .await
        .unwrap_err();
    assert!(
        matches!(&again, AppError::Conflict { message } if message.contains("already in Dial (“Front desk”)")),
        "{again:?}"
    );
    // Gone from Twilio's inventory meanwhile (someone else bought it).
    fake.give_number("AC99999999999999999999999999999999", "+14155550101")
        .unwrap();
    let gone = buy(&app, &app.client, "+14155550101", "")
        .await
        .unwrap_err();
    assert!(
        gone.to_string().contains("no longer available at Twilio"),
        "{gone}"
    );
    let invalid = buy(&app, &app.client, "555-0100", "").await.unwrap_err();
    assert!(invalid.field("e164").is_some());
    let long = buy(&app, &app.client, "+14155550102", &"x".repeat(65))
        .await
        .unwrap_err();
    assert!(long.field("label").is_some());
    assert_eq!(
        list(&app, &app.client, &[]).await.total,
        1,
        "failed purchases leave no row"
    );
    assert!(app
        .audit_actions()
        .await
        .contains(&"number.bought".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_see_and_change_only_their_numbers() {
    let (app, _fake) = app_with_twilio().await;
    let (owner, owner_id) = app.owner_client().await;
    let mine = buy(&app, &owner, "+14155550110", "Olivia's line")
        .await
        .unwrap();
    assert_eq!(mine.owner_id.as_deref(), Some(owner_id.as_str()));
    let admins = buy(&app, &app.client, "+14155550111", "Admin line")
        .await
        .unwrap();
    // An admin buys on behalf of the owner.
    let gift: NumberRow = app
        .call(
            &app.client,
            "numbers/buy",
            &[
                ("e164", "+14155550112"),
                ("label", "Gift"),
                ("owner_id", &owner_id),
            ],
        )
        .await
        .unwrap();
    assert_eq!(gift.owner.as_deref(), Some(OWNER));

    let seen = list(&app, &owner, &[]).await;
    let numbers: Vec<&str> = seen.items.iter().map(|n| n.e164.as_str()).collect();
    assert_eq!(numbers, ["+14155550110", "+14155550112"]);
    assert_eq!(list(&app, &app.client, &[]).await.total, 3);

    // Another's number is not found for an owner, whatever the action.
    for (endpoint, form) in [
        ("numbers/get", vec![("id", admins.id.as_str())]),
        (
            "numbers/label",
            vec![("id", admins.id.as_str()), ("label", "mine now")],
        ),
        ("numbers/release", vec![("id", admins.id.as_str())]),
    ] {
        let err = app
            .call::<serde_json::Value>(&owner, endpoint, &form)
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::NotFound { .. }),
            "{endpoint}: {err:?}"
        );
    }
    let allot = app
        .call::<NumberRow>(
            &owner,
            "numbers/allot",
            &[("id", &mine.id), ("owner_id", &owner_id)],
        )
        .await
        .unwrap_err();
    assert_eq!(allot, AppError::Forbidden);
    let behalf = app
        .call::<NumberRow>(
            &owner,
            "numbers/buy",
            &[("e164", "+14155550113"), ("owner_id", "someone")],
        )
        .await
        .unwrap_err();
    assert_eq!(behalf, AppError::Forbidden);
    let import = app
        .call::<u32>(&owner, "numbers/import", &[])
        .await
        .unwrap_err();
    assert_eq!(import, AppError::Forbidden);
    let unchanged: NumberRow = app
        .call(&app.client, "numbers/get", &[("id", &admins.id)])
        .await
        .unwrap();
    assert_eq!(unchanged.label, "Admin line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_cannot_take_over_a_number_the_account_already_has() {
    let (app, fake) = app_with_twilio().await;
    let (owner, _) = app.owner_client().await;
    // On the account, but not in Dial (bought in the console, or never imported).
    fake.give_number(SID, "+12125550104").expect("give number");
    let requests_before = fake.requests().len();
    let err = buy(&app, &owner, "+12125550104", "mine now")
        .await
        .unwrap_err();
    match &err {
        AppError::Conflict { message } => assert!(
            message.contains("already on the Twilio account")
                && message.contains("Ask an administrator"),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nothing written in Dial, nothing bought or changed at Twilio.
    assert_eq!(list(&app, &app.client, &[]).await.total, 0);
    assert!(fake.requests()[requests_before..]
        .iter()
        .all(|r| r.starts_with("GET ")));
    assert_eq!(fake.numbers(SID).len(), 1);
    assert!(!app
        .audit_actions()
        .await
        .iter()
        .any(|a| a.starts_with("number.")));
    // An admin may adopt it (the recovery path for a purchase Dial failed to record).
    let adopted = buy(&app, &app.client, "+12125550104", "Adopted")
        .await
        .expect("an admin adopts it");
    assert_eq!(adopted.e164.as_str(), "+12125550104");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_allotment_and_release_keep_twilio_and_history_in_step() {
    let (app, fake) = app_with_twilio().await;
    let (_owner, owner_id) = app.owner_client().await;
    let number = buy(&app, &app.client, "+15105550120", "").await.unwrap();
    let labelled: NumberRow = app
        .call(
            &app.client,
            "numbers/label",
            &[("id", &number.id), ("label", "Sales")],
        )
        .await
        .unwrap();
    assert_eq!(labelled.label, "Sales");
    assert_eq!(fake.numbers(SID)[0].friendly_name, "Sales");
    let allotted: NumberRow = app
        .call(
            &app.client,
            "numbers/allot",
            &[("id", &number.id), ("owner_id", &owner_id)],
        )
        .await
        .unwrap();
    assert_eq!(allotted.owner.as_deref(), Some(OWNER));
    let nobody = app
        .call::<NumberRow>(
            &app.client,
            "numbers/allot",
            &[("id", &number.id), ("owner_id", "nobody")],
        )
        .await
        .unwrap_err();
    assert!(nobody.field("owner").is_some());

    // Assigned to an assistant: release is refused and explains why.
    sqlx::query("UPDATE phone_numbers SET assistant_id = 'assistant-1' WHERE id = $1")
        .bind(&number.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let refused = app
        .call::<()>(&app.client, "numbers/release", &[("id", &number.id)])
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("Unassign it first"),
        "{refused}"
    );
    assert_eq!(fake.numbers(SID).len(), 1);
    sqlx::query("UPDATE phone_numbers SET assistant_id = NULL WHERE id = $1")
        .bind(&number.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();

    app.call::<()>(&app.client, "numbers/release", &[("id", &number.id)])
        .await
        .unwrap();
    assert!(fake.numbers(SID).is_empty(), "released at Twilio");
    assert_eq!(list(&app, &app.client, &[]).await.total, 0);
    let (status, released_at): (String, Option<i64>) =
        sqlx::query_as("SELECT assignment_status, released_at FROM phone_numbers WHERE id = $1")
            .bind(&number.id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "released");
    assert!(released_at.is_some(), "history is kept");
    // The number can be bought again later, as a new row.
    buy(&app, &app.client, "+15105550120", "Back again")
        .await
        .unwrap();
    let actions = app.audit_actions().await;
    for a in ["number.labelled", "number.allotted", "number.released"] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
}

/// A released number stays in Dial's history: left out of the list unless asked for,
/// its page read-only with when and by whom, and nothing can change it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_numbers_stay_in_history_read_only() {
    use reqwest::StatusCode;
    let (app, _fake) = app_with_twilio().await;
    let (owner, _) = app.owner_client().await;
    let mine = buy(&app, &owner, "+14155550130", "Front desk")
        .await
        .unwrap();
    let kept = buy(&app, &owner, "+14155550131", "Kept").await.unwrap();
    let admins = buy(&app, &app.client, "+14155550132", "Admin line")
        .await
        .unwrap();

    // Released as a page without JavaScript does it: a form post, then the redirect, and
    // the list it lands on says what happened, once.
    let response = owner
        .post(app.url("/api/numbers/release"))
        .header("accept", "text/html")
        .header(
            "referer",
            app.url(&format!("/dashboard/phone-numbers/{}", mine.id)),
        )
        .form(&[("id", mine.id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.ends_with("/dashboard/phone-numbers"), "{location}");
    let confirmation = format!("Released {}. It stays in Dial", mine.e164.formatted());
    let (status, _, body) = app.get_page(&owner, "/dashboard/phone-numbers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&confirmation), "confirmed");
    assert!(
        !body.contains(r#"data-number="+14155550130""#),
        "not active"
    );
    assert!(body.contains(r#"data-number="+14155550131""#));
    let (_, _, again) = app.get_page(&owner, "/dashboard/phone-numbers").await;
    assert!(!again.contains(&confirmation), "confirmed only once");

    // The "Released" tab lists it, marked.
    let (_, _, body) = app
        .get_page(&owner, "/dashboard/phone-numbers?released=only")
        .await;
    assert!(body.contains(r#"data-number="+14155550130""#));
    assert!(!body.contains(r#"data-number="+14155550131""#));
    assert!(body.contains("row-released"));

    // Its page: read-only, with when and by whom, and a way to its calls.
    let released: NumberRow = app
        .call(&owner, "numbers/get", &[("id", &mine.id)])
        .await
        .unwrap();
    assert!(released.is_released());
    assert_eq!(released.released_by.as_deref(), Some(OWNER));
    let when = dial_app::model::format_time(released.released_at.unwrap());
    let (status, _, body) = app
        .get_page(&owner, &format!("/dashboard/phone-numbers/{}", mine.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&format!("on {when} by {OWNER}.")), "{body}");
    assert!(body.contains(&format!(r#"href="/dashboard/calls?number={}""#, mine.id)));
    // A live number's page has the actions the released one must not.
    let (_, _, live) = app
        .get_page(&owner, &format!("/dashboard/phone-numbers/{}", kept.id))
        .await;
    for action in [
        "/api/numbers/label",
        "/api/numbers/release",
        r#"data-testid="number-assistant""#,
    ] {
        assert!(live.contains(action), "a live number offers {action}");
        assert!(!body.contains(action), "a released number offers {action}");
    }

    // Nothing changes a released number.
    for (endpoint, form) in [
        (
            "numbers/label",
            vec![("id", mine.id.as_str()), ("label", "again")],
        ),
        ("numbers/release", vec![("id", mine.id.as_str())]),
    ] {
        let err = app
            .call::<serde_json::Value>(&owner, endpoint, &form)
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::NotFound { .. }),
            "{endpoint}: {err:?}"
        );
    }

    // Another owner's released number stays "not found", page and function alike.
    app.call::<()>(&app.client, "numbers/release", &[("id", &admins.id)])
        .await
        .unwrap();
    let err = app
        .call::<NumberRow>(&owner, "numbers/get", &[("id", &admins.id)])
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }), "{err:?}");
    let (_, _, body) = app
        .get_page(&owner, &format!("/dashboard/phone-numbers/{}", admins.id))
        .await;
    assert!(body.contains(&err.to_string()) && !body.contains("Admin line"));
    let theirs: NumberRow = app
        .call(&app.client, "numbers/get", &[("id", &admins.id)])
        .await
        .unwrap();
    assert_eq!(theirs.released_by.as_deref(), Some(ADMIN));

    // Lists: live numbers by default, released ones when asked, each owner their own.
    let e164s = |page: Page<NumberRow>| -> Vec<String> {
        page.items.into_iter().map(|n| n.e164.to_string()).collect()
    };
    assert_eq!(e164s(list(&app, &owner, &[]).await), ["+14155550131"]);
    assert_eq!(
        e164s(list(&app, &owner, &[("released", "only")]).await),
        ["+14155550130"]
    );
    assert_eq!(
        e164s(list(&app, &owner, &[("released", "include")]).await),
        ["+14155550130", "+14155550131"]
    );
    assert_eq!(
        e164s(list(&app, &app.client, &[("released", "only")]).await),
        ["+14155550130", "+14155550132"]
    );
    let bad = app
        .call::<Page<NumberRow>>(&owner, "numbers/list", &[("released", "maybe")])
        .await
        .unwrap_err();
    assert!(bad.field("released").is_some(), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_adds_the_accounts_numbers_once() {
    let (app, fake) = app_with_twilio().await;
    for n in ["+12125550101", "+12125550102", "+12125550103"] {
        fake.give_number(SID, n).unwrap();
    }
    buy(&app, &app.client, "+12125550104", "Bought in Dial")
        .await
        .unwrap();
    let candidates: Vec<ImportCandidate> = app
        .call(&app.client, "numbers/import-candidates", &[])
        .await
        .unwrap();
    assert_eq!(
        candidates.len(),
        3,
        "the number Dial bought is not a candidate"
    );
    let one: u32 = app
        .call(
            &app.client,
            "numbers/import",
            &[("sid", &candidates[0].sid)],
        )
        .await
        .unwrap();
    assert_eq!(one, 1);
    let rest: u32 = app.call(&app.client, "numbers/import", &[]).await.unwrap();
    assert_eq!(rest, 2);
    let again: u32 = app.call(&app.client, "numbers/import", &[]).await.unwrap();
    assert_eq!(again, 0, "importing twice changes nothing");
    let all = list(&app, &app.client, &[("owner", "none")]).await;
    assert_eq!(all.total, 3, "imported numbers have no owner yet");
    assert!(all
        .items
        .iter()
        .all(|n| n.twilio_sid.as_deref().is_some_and(|s| s.starts_with("PN"))));
    let none: Vec<ImportCandidate> = app
        .call(&app.client, "numbers/import-candidates", &[])
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn break_number_inserts(app: &TestApp, broken: bool) {
    let sql = match (app.state.db.backend, broken) {
        (Backend::Sqlite, true) => "CREATE TRIGGER injected_failure BEFORE INSERT ON phone_numbers BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        (Backend::Sqlite, false) => "DROP TRIGGER injected_failure",
        (Backend::Postgres, true) => "ALTER TABLE phone_numbers ADD CONSTRAINT injected_failure CHECK (e164 IS NULL) NOT VALID",
        (Backend::Postgres, false) => "ALTER TABLE phone_numbers DROP CONSTRAINT injected_failure",
    };
    sqlx::query(sql).execute(&app.state.db.pool).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_dial_failed_to_record_is_recorded_on_retry_without_buying_twice() {
    let (app, fake) = app_with_twilio().await;
    break_number_inserts(&app, true).await;
    let failed = buy(&app, &app.client, "+13125550130", "Chicago")
        .await
        .unwrap_err();
    assert!(
        failed
            .to_string()
            .contains("could not record it. Nothing is lost"),
        "{failed}"
    );
    assert_eq!(fake.numbers(SID).len(), 1, "Twilio did sell it");
    break_number_inserts(&app, false).await;

    let recorded = buy(&app, &app.client, "+13125550130", "Chicago")
        .await
        .unwrap();
    assert_eq!(
        recorded.twilio_sid.as_deref(),
        Some(fake.numbers(SID)[0].sid.as_str())
    );
    let purchases = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST") && r.ends_with("/IncomingPhoneNumbers.json"))
        .count();
    assert_eq!(purchases, 1, "bought once");
    assert!(app
        .audit_actions()
        .await
        .contains(&"number.recorded".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_dial_failed_to_record_is_found_by_import() {
    let (app, fake) = app_with_twilio().await;
    break_number_inserts(&app, true).await;
    assert!(buy(&app, &app.client, "+13125550131", "").await.is_err());
    break_number_inserts(&app, false).await;
    let candidates: Vec<ImportCandidate> = app
        .call(&app.client, "numbers/import-candidates", &[])
        .await
        .unwrap();
    assert_eq!(
        candidates
            .iter()
            .map(|c| c.e164.as_str())
            .collect::<Vec<_>>(),
        ["+13125550131"]
    );
    let added: u32 = app.call(&app.client, "numbers/import", &[]).await.unwrap();
    assert_eq!(added, 1);
    assert_eq!(fake.numbers(SID).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_failures_are_explained_and_leave_nothing_behind() {
    let (app, fake) = app_with_twilio().await;
    fake.inject(Fault::respond(
        "POST /2010-04-01/Accounts",
        1,
        500,
        serde_json::json!({"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}),
    ));
    let err = buy(&app, &app.client, "+14155550140", "")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppError::Upstream { code: Some(c), .. } if c == "20500"),
        "{err:?}"
    );
    assert_eq!(list(&app, &app.client, &[]).await.total, 0);
    assert!(fake.numbers(SID).is_empty());

    // Not connected at all: a message that says what to do.
    let bare = spawn_with_admin().await;
    let err = bare
        .call::<AvailableNumbers>(
            &bare.client,
            "numbers/search",
            &[("country", "US"), ("kind", "local")],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Settings → Twilio"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_filters_sorts_and_pages_on_the_server() {
    let (app, fake) = app_with_twilio().await;
    for i in 0..30 {
        fake.give_number(SID, &format!("+12065550{:03}", 100 + i))
            .unwrap();
        fake.give_number(SID, &format!("+16175550{:03}", 100 + i))
            .unwrap();
    }
    let added: u32 = app.call(&app.client, "numbers/import", &[]).await.unwrap();
    assert_eq!(added, 60);
    let first = list(&app, &app.client, &[]).await;
    assert_eq!((first.items.len(), first.total, first.pages()), (50, 60, 2));
    assert_eq!(first.items[0].e164.as_str(), "+12065550100");
    let second = list(&app, &app.client, &[("page", "2")]).await;
    assert_eq!(second.items.len(), 10);
    assert_eq!(second.items.last().unwrap().e164.as_str(), "+16175550129");
    let desc = list(&app, &app.client, &[("sort", "number"), ("dir", "desc")]).await;
    assert_eq!(desc.items[0].e164.as_str(), "+16175550129");
    let boston = list(&app, &app.client, &[("q", "617 555")]).await;
    assert_eq!(boston.total, 30);
    let first_id = first.items[0].id.clone();
    app.call::<NumberRow>(
        &app.client,
        "numbers/label",
        &[("id", &first_id), ("label", "Seattle_main line")],
    )
    .await
    .unwrap();
    // % and _ are literal characters, not wildcards.
    assert_eq!(
        list(&app, &app.client, &[("q", "seattle%line")])
            .await
            .total,
        0
    );
    let by_label = list(&app, &app.client, &[("q", "SEATTLE_MAIN")]).await;
    assert_eq!(
        by_label
            .items
            .iter()
            .map(|n| n.id.as_str())
            .collect::<Vec<_>>(),
        [first_id.as_str()]
    );
    assert_eq!(
        list(&app, &app.client, &[("assigned", "assigned")])
            .await
            .total,
        0
    );
    assert_eq!(
        list(
            &app,
            &app.client,
            &[("assigned", "unassigned"), ("carrier", "twilio")]
        )
        .await
        .total,
        60
    );
    let (status, _, page) = app
        .get_page(&app.client, "/dashboard/phone-numbers?sort=number&dir=desc")
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        page.contains("+1 (617) 555-0129"),
        "the page renders the first row server-side"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_audit_row_cannot_be_written_is_not_made() {
    let (app, _fake) = app_with_twilio().await;
    let number = buy(&app, &app.client, "+14155550110", "Before")
        .await
        .unwrap();
    // The audit log refuses the next entry.
    let (break_sql, mend_sql) = match app.state.db.backend {
        Backend::Sqlite => (
            "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
            "DROP TRIGGER audit_refused",
        ),
        Backend::Postgres => (
            "ALTER TABLE audit_log ADD CONSTRAINT audit_refused CHECK (action IS NULL) NOT VALID",
            "ALTER TABLE audit_log DROP CONSTRAINT audit_refused",
        ),
    };
    sqlx::query(break_sql)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let err = app
        .call::<NumberRow>(
            &app.client,
            "numbers/label",
            &[("id", &number.id), ("label", "After")],
        )
        .await
        .unwrap_err();
    assert_eq!(err, AppError::Internal);
    sqlx::query(mend_sql)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    // No change without its record.
    let unchanged: NumberRow = app
        .call(&app.client, "numbers/get", &[("id", &number.id)])
        .await
        .unwrap();
    assert_eq!(unchanged.label, "Before");
}

/// Issue 18: searching Germany said "Try another area code, or fewer digits" though
/// neither was entered. The hint names only what the search asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_search_names_only_what_was_entered() {
    let (app, _fake) = app_with_twilio().await;
    let search = |form: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move {
            app.call::<AvailableNumbers>(&app.client, "numbers/search", &form)
                .await
                .unwrap()
        }
    };
    let germany = search(vec![("country", "DE"), ("kind", "local"), ("voice", "on")]).await;
    assert!(germany.numbers.is_empty());
    let hint = germany.none_found.expect("a hint");
    assert!(hint.contains("no local numbers in Germany"), "{hint}");
    assert!(
        !hint.contains("area code") && !hint.contains("digits"),
        "nothing was entered: {hint}"
    );

    let area = search(vec![
        ("country", "US"),
        ("kind", "local"),
        ("area_code", "907"),
    ])
    .await;
    let hint = area.none_found.expect("a hint");
    assert!(
        hint.contains("area code 907") && hint.contains("another area code"),
        "{hint}"
    );
    assert!(!hint.contains("Contains"), "{hint}");

    let digits = search(vec![
        ("country", "GB"),
        ("kind", "mobile"),
        ("contains", "4242"),
    ])
    .await;
    let hint = digits.none_found.expect("a hint");
    assert!(
        hint.contains("\u{201c}4242\u{201d}") && hint.contains("fewer digits"),
        "{hint}"
    );
    assert!(!hint.contains("area code"), "{hint}");

    let found = search(vec![
        ("country", "US"),
        ("kind", "local"),
        ("area_code", "415"),
    ])
    .await;
    assert!(!found.numbers.is_empty() && found.none_found.is_none());
}

/// Issue 18: an owner's number page showed an empty "Routing profile and compliance" card
/// and asked for admin-only lists. The card shows only what an admin recorded, read-only;
/// the admin-only lists answer an owner 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owners_number_page_shows_only_what_they_may_see() {
    let (app, _fake) = app_with_twilio().await;
    let (owner, _) = app.owner_client().await;
    let mine = buy(&app, &owner, "+14155550121", "Mine").await.unwrap();
    let page = format!("/dashboard/phone-numbers/{}", mine.id);

    let (status, _, body) = app.get_page(&owner, &page).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("Routing profile and compliance"),
        "no empty card for an owner"
    );
    assert!(!body.contains("Allot to"));

    for endpoint in ["numbers/owners", "routing-profiles/list"] {
        let response = owner
            .post(app.url(&format!("/api/{endpoint}")))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{endpoint}");
    }

    // What an admin records, the owner reads (and cannot change).
    app.call::<()>(
        &app.client,
        "numbers/metadata/save",
        &[("id", &mine.id), ("compliance", "a2p_status: approved")],
    )
    .await
    .unwrap();
    let (_, _, body) = app.get_page(&owner, &page).await;
    assert!(body.contains("Routing profile and compliance") && body.contains("a2p_status"));
    assert!(!body.contains("field-compliance"), "read-only for an owner");
    let (_, _, admin_view) = app.get_page(&app.client, &page).await;
    assert!(admin_view.contains("field-compliance"), "an admin edits it");
}

/// Issue 18: the Buy form offered both "Me" and "admin" as owner, and told an owner the
/// number is bought "on your Twilio account".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buy_page_names_the_buyer_once_and_fits_their_role() {
    let (app, _fake) = app_with_twilio().await;
    let (owner, owner_id) = app.owner_client().await;
    let search = "/dashboard/phone-numbers/buy?country=US&kind=local&area_code=415";

    // Without the hydration markers (`<!>`) between a text and its closing tag.
    let markup = |page: String| page.replace("<!>", "");
    let admin_page = markup(app.get_page(&app.client, search).await.2);
    assert!(admin_page.contains(">Me (admin)</option>"));
    assert!(!admin_page.contains(">admin</option>") && !admin_page.contains(">Me</option>"));
    assert!(admin_page.contains(&format!("value=\"{owner_id}\">olivia</option>")));
    assert!(admin_page.contains("on your Twilio account"));

    let owner_page = markup(app.get_page(&owner, search).await.2);
    assert!(
        !owner_page.contains("your Twilio account"),
        "an owner has no Twilio account"
    );
    assert!(owner_page.contains("organisation's Twilio account"));
    assert!(
        !owner_page.contains("name=\"owner_id\""),
        "an owner chooses no owner"
    );

    // The number page's allotment names the admin once too.
    let number = buy(&app, &app.client, "+14155550122", "").await.unwrap();
    let page = markup(
        app.get_page(
            &app.client,
            &format!("/dashboard/phone-numbers/{}", number.id),
        )
        .await
        .2,
    );
    assert!(page.contains(">Me (admin)</option>") && !page.contains(">admin</option>"));
}
