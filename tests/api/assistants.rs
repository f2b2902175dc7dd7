use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::AssignmentStatus,
    model::{Assistant, NumberRow},
};
use reqwest::StatusCode;

fn form<'a>(name: &'a str, agent_name: &'a str, metadata: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("agent_name", agent_name),
        ("metadata", metadata),
        ("room_prefix", ""),
        ("description", ""),
    ]
}

async fn create(
    app: &TestApp,
    client: &reqwest::Client,
    name: &str,
    agent_name: &str,
) -> Assistant {
    app.call(client, "assistants/create", &form(name, agent_name, ""))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

async fn create_err(app: &TestApp, client: &reqwest::Client, form: &[(&str, &str)]) -> AppError {
    app.call::<Assistant>(client, "assistants/create", form)
        .await
        .expect_err("the form must be refused")
}

/// A live number of `owner_id` answered by `assistant_id`, written as provisioning would.
async fn assigned_number(app: &TestApp, owner_id: &str, assistant_id: &str) -> String {
    sqlx::query(
        "INSERT INTO phone_numbers (id, e164, label, country, created_at, updated_at, owner_id, assistant_id, assignment_status) \
         VALUES ('n1', '+14155550100', 'Main line', 'US', 1, 1, $1, $2, 'active')",
    )
    .bind(owner_id)
    .bind(assistant_id)
    .execute(&app.state.db.pool)
    .await
    .expect("insert a number");
    "n1".to_string()
}

fn not_found() -> AppError {
    AppError::NotFound {
        what: "That assistant".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assistants_are_created_listed_edited_and_deleted() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let typed = "{\n  \"language\": \"en\",\n  \"greeting\": \"Hello\"\n}";
    let front: Assistant = app
        .call(
            &owner,
            "assistants/create",
            &[
                ("name", "  Front desk "),
                ("agent_name", "front-desk"),
                ("metadata", &format!("\n{typed}\n\n")),
                ("room_prefix", ""),
                ("description", "Answers the main line"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(front.name, "Front desk");
    assert_eq!(front.agent_name, "front-desk");
    assert_eq!(front.metadata, typed, "kept as typed, trimmed");
    assert_eq!(front.room_prefix, "call-", "the default prefix");
    assert_eq!(front.description, "Answers the main line");
    assert_eq!(
        (front.owner_id.as_str(), front.owner.as_str()),
        (owner_id.as_str(), OWNER)
    );
    assert_eq!(front.numbers, 0);
    let billing = create(&app, &owner, "billing", "billing.v2").await;
    assert_eq!(billing.metadata, "{}", "empty metadata is an empty object");

    let list: Vec<Assistant> = app.call(&owner, "assistants/list", &[]).await.unwrap();
    let names: Vec<&str> = list.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["billing", "Front desk"], "sorted by name");
    let got: Assistant = app
        .call(&owner, "assistants/get", &[("id", &front.id)])
        .await
        .unwrap();
    assert_eq!(got, front);

    let updated: Assistant = app
        .call(
            &owner,
            "assistants/update",
            &[
                ("id", front.id.as_str()),
                ("name", "Reception"),
                ("agent_name", "reception_v3"),
                ("metadata", ""),
                ("room_prefix", "reception-"),
                ("description", ""),
            ],
        )
        .await
        .unwrap();
    assert_eq!(updated.id, front.id);
    assert_eq!(updated.name, "Reception");
    assert_eq!(updated.agent_name, "reception_v3");
    assert_eq!(updated.metadata, "{}");
    assert_eq!(updated.room_prefix, "reception-");
    assert_eq!(updated.description, "");
    assert_eq!(updated.created_at, front.created_at);
    let got: Assistant = app
        .call(&owner, "assistants/get", &[("id", &front.id)])
        .await
        .unwrap();
    assert_eq!(got, updated, "the change is stored");

    app.call::<()>(&owner, "assistants/delete", &[("id", &front.id)])
        .await
        .unwrap();
    let list: Vec<Assistant> = app.call(&owner, "assistants/list", &[]).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, billing.id);
    let gone = app
        .call::<Assistant>(&owner, "assistants/get", &[("id", &front.id)])
        .await
        .unwrap_err();
    assert_eq!(gone, not_found());
    let again = app
        .call::<()>(&owner, "assistants/delete", &[("id", &front.id)])
        .await
        .unwrap_err();
    assert_eq!(again, not_found());

    let actions = app.audit_actions().await;
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(count("assistant.create"), 2);
    assert_eq!(count("assistant.update"), 1);
    assert_eq!(count("assistant.delete"), 1);
    let targets: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action, target FROM audit_log WHERE action LIKE 'assistant.%' ORDER BY id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(
        targets,
        [
            (
                "assistant.create".to_string(),
                Some("Front desk".to_string())
            ),
            ("assistant.create".to_string(), Some("billing".to_string())),
            (
                "assistant.update".to_string(),
                Some("Reception".to_string())
            ),
            (
                "assistant.delete".to_string(),
                Some("Reception".to_string())
            ),
        ],
        "the target is the assistant's name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invalid_field_is_named_with_its_fix() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;

    let bad_agent = create_err(&app, &owner, &form("Front desk", "my agent", "")).await;
    assert!(
        bad_agent
            .field("agent_name")
            .unwrap()
            .contains("agent_name in WorkerOptions"),
        "{bad_agent:?}"
    );
    let leading_dash = create_err(&app, &owner, &form("Front desk", "-agent", "")).await;
    assert!(leading_dash.field("agent_name").is_some());

    let not_json = create_err(
        &app,
        &owner,
        &form("Front desk", "agent", "{\n  \"a\": 1\n  \"b\": 2\n}"),
    )
    .await;
    let message = not_json.field("metadata").unwrap();
    assert!(
        message.starts_with("Metadata is not valid JSON:"),
        "{message}"
    );
    assert!(message.contains("line 3 column 3"), "{message}");

    let array = create_err(&app, &owner, &form("Front desk", "agent", "[1, 2]")).await;
    assert_eq!(
        array.field("metadata").unwrap(),
        "Metadata must be a JSON object ({ \u{2026} }), not an array."
    );
    let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(17 * 1024));
    let too_big = create_err(&app, &owner, &form("Front desk", "agent", &huge)).await;
    assert!(too_big.field("metadata").unwrap().contains("16 KiB"));

    let empty_name = create_err(&app, &owner, &form("   ", "agent", "")).await;
    assert!(empty_name.field("name").is_some(), "{empty_name:?}");
    let long_name = "n".repeat(65);
    let too_long = create_err(&app, &owner, &form(&long_name, "agent", "")).await;
    assert!(too_long.field("name").unwrap().contains("64"));

    let prefix = create_err(
        &app,
        &owner,
        &[
            ("name", "Front desk"),
            ("agent_name", "agent"),
            ("room_prefix", "call /"),
        ],
    )
    .await;
    assert!(prefix.field("room_prefix").is_some(), "{prefix:?}");
    let description = "d".repeat(501);
    let long_description = create_err(
        &app,
        &owner,
        &[
            ("name", "Front desk"),
            ("agent_name", "agent"),
            ("description", &description),
        ],
    )
    .await;
    assert!(long_description
        .field("description")
        .unwrap()
        .contains("500"));

    // Several problems at once: each is named.
    let many = create_err(&app, &owner, &form("", "bad agent", "nope")).await;
    for field in ["name", "agent_name", "metadata"] {
        assert!(many.field(field).is_some(), "{field}: {many:?}");
    }

    // Names are unique per owner.
    let front = create(&app, &owner, "Front desk", "agent").await;
    let duplicate = create_err(&app, &owner, &form("Front desk", "other", "")).await;
    assert!(
        duplicate
            .field("name")
            .unwrap()
            .starts_with("You already have an assistant called \u{201c}Front desk\u{201d}"),
        "{duplicate:?}"
    );
    let billing = create(&app, &owner, "Billing", "agent").await;
    let renamed = app
        .call::<Assistant>(
            &owner,
            "assistants/update",
            &[
                ("id", billing.id.as_str()),
                ("name", "Front desk"),
                ("agent_name", "agent"),
            ],
        )
        .await
        .unwrap_err();
    assert!(renamed.field("name").unwrap().contains("already have"));
    // The update is validated like the create, and a refused update changes nothing.
    let bad_update = app
        .call::<Assistant>(
            &owner,
            "assistants/update",
            &[
                ("id", front.id.as_str()),
                ("name", "Front desk"),
                ("agent_name", "agent"),
                ("metadata", "{\"a\": }"),
            ],
        )
        .await
        .unwrap_err();
    assert!(bad_update
        .field("metadata")
        .unwrap()
        .contains("line 1 column"));
    let unchanged: Assistant = app
        .call(&owner, "assistants/get", &[("id", &front.id)])
        .await
        .unwrap();
    assert_eq!(unchanged, front);
    // Another owner may use the same name.
    create(&app, &app.client, "Front desk", "agent").await;
    let creates = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a == "assistant.create")
        .count();
    assert_eq!(creates, 3, "refused forms are not audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_see_only_their_own_assistants_and_admins_see_all() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let admins = create(&app, &app.client, "Sales", "sales-agent").await;
    let owners = create(&app, &owner, "Support", "support-agent").await;

    let list: Vec<Assistant> = app.call(&owner, "assistants/list", &[]).await.unwrap();
    assert_eq!(list, vec![owners.clone()], "an owner sees only their own");
    let mut update = form("Taken over", "agent", "");
    update.push(("id", &admins.id));
    for (endpoint, form) in [
        ("assistants/get", vec![("id", admins.id.as_str())]),
        ("assistants/numbers", vec![("id", admins.id.as_str())]),
        ("assistants/update", update),
        ("assistants/delete", vec![("id", admins.id.as_str())]),
    ] {
        let err = app
            .call::<serde_json::Value>(&owner, endpoint, &form)
            .await
            .unwrap_err();
        assert_eq!(err, not_found(), "{endpoint}: not found, never forbidden");
    }
    let still: Assistant = app
        .call(&app.client, "assistants/get", &[("id", &admins.id)])
        .await
        .unwrap();
    assert_eq!(still, admins, "nothing changed");

    // Admins see, change and delete everyone's.
    let all: Vec<Assistant> = app.call(&app.client, "assistants/list", &[]).await.unwrap();
    let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Sales", "Support"]);
    let mut edit = form("Support desk", "support-agent", "{\"tier\": 2}");
    edit.push(("id", &owners.id));
    let edited: Assistant = app
        .call(&app.client, "assistants/update", &edit)
        .await
        .unwrap();
    assert_eq!(edited.name, "Support desk");
    assert_eq!(edited.owner_id, owner_id, "the owner stays");

    // Admins create for an owner; owners cannot create for anyone else.
    let mut for_owner = form("Night line", "night", "");
    for_owner.push(("owner_id", &owner_id));
    let night: Assistant = app
        .call(&app.client, "assistants/create", &for_owner)
        .await
        .unwrap();
    assert_eq!(night.owner, OWNER);
    let seen: Assistant = app
        .call(&owner, "assistants/get", &[("id", &night.id)])
        .await
        .unwrap();
    assert_eq!(seen.id, night.id);
    let mut for_admin = form("Sneaky", "agent", "");
    for_admin.push(("owner_id", &admins.owner_id));
    let refused = app
        .call::<Assistant>(&owner, "assistants/create", &for_admin)
        .await
        .unwrap_err();
    assert_eq!(refused, AppError::Forbidden);
    let mut nobody = form("Ghost", "agent", "");
    nobody.push(("owner_id", "no-such-user"));
    let unknown = app
        .call::<Assistant>(&app.client, "assistants/create", &nobody)
        .await
        .unwrap_err();
    assert!(unknown.field("owner_id").is_some(), "{unknown:?}");

    app.call::<()>(&app.client, "assistants/delete", &[("id", &owners.id)])
        .await
        .unwrap();
    let list: Vec<Assistant> = app.call(&owner, "assistants/list", &[]).await.unwrap();
    assert_eq!(list.len(), 1, "only the night line is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_callers_are_unauthorized() {
    let app = spawn_with_admin().await;
    let assistant = create(&app, &app.client, "Sales", "sales-agent").await;
    let stranger = new_client();
    let mut update = form("Mine now", "agent", "");
    update.push(("id", &assistant.id));
    for (endpoint, form) in [
        ("assistants/list", vec![]),
        ("assistants/get", vec![("id", assistant.id.as_str())]),
        ("assistants/create", form("Mine", "agent", "")),
        ("assistants/update", update),
        ("assistants/delete", vec![("id", assistant.id.as_str())]),
        ("assistants/numbers", vec![("id", assistant.id.as_str())]),
    ] {
        let err = app
            .call::<serde_json::Value>(&stranger, endpoint, &form)
            .await
            .unwrap_err();
        assert_eq!(err, AppError::Unauthorized, "{endpoint}");
    }
    let list: Vec<Assistant> = app.call(&app.client, "assistants/list", &[]).await.unwrap();
    assert_eq!(list, vec![assistant]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assistant_that_answers_numbers_cannot_be_deleted() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let front = create(&app, &owner, "Front desk", "front-desk").await;
    let number = assigned_number(&app, &owner_id, &front.id).await;

    let got: Assistant = app
        .call(&owner, "assistants/get", &[("id", &front.id)])
        .await
        .unwrap();
    assert_eq!(got.numbers, 1);
    let numbers: Vec<NumberRow> = app
        .call(&owner, "assistants/numbers", &[("id", &front.id)])
        .await
        .unwrap();
    assert_eq!(numbers.len(), 1);
    assert_eq!(numbers[0].id, number);
    assert_eq!(numbers[0].e164.as_str(), "+14155550100");
    assert_eq!(numbers[0].assistant.as_deref(), Some("Front desk"));
    assert_eq!(numbers[0].assignment_status, AssignmentStatus::Active);

    let refused = app
        .call::<()>(&owner, "assistants/delete", &[("id", &front.id)])
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        AppError::Conflict {
            message: "Front desk answers 1 number. Unassign them first (on each number's page), then delete the assistant.".into()
        }
    );
    let still: Assistant = app
        .call(&owner, "assistants/get", &[("id", &front.id)])
        .await
        .unwrap();
    assert_eq!(still.id, front.id, "still there");
    assert!(!app
        .audit_actions()
        .await
        .contains(&"assistant.delete".to_string()));

    // A released number no longer counts.
    sqlx::query(
        "UPDATE phone_numbers SET released_at = 2, assignment_status = 'released' WHERE id = $1",
    )
    .bind(&number)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let numbers: Vec<NumberRow> = app
        .call(&owner, "assistants/numbers", &[("id", &front.id)])
        .await
        .unwrap();
    assert!(numbers.is_empty());
    app.call::<()>(&owner, "assistants/delete", &[("id", &front.id)])
        .await
        .unwrap();
    assert!(app
        .audit_actions()
        .await
        .contains(&"assistant.delete".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_pages_render_without_javascript() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;

    let (status, _, body) = app.get_page(&owner, "/dashboard/assistants").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No assistants yet"), "the empty state");
    assert!(body.contains("New assistant"));
    assert!(
        !body.contains("field-owner_id"),
        "owners are not offered an owner"
    );

    let front = create(&app, &owner, "Front desk", "front-desk").await;
    assigned_number(&app, &owner_id, &front.id).await;
    let (status, _, body) = app.get_page(&owner, "/dashboard/assistants").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Front desk"));
    assert!(body.contains("front-desk"));
    assert!(body.contains(&format!("/dashboard/assistants/{}", front.id)));
    assert!(!body.contains("No assistants yet"));
    assert!(
        !body.contains("<th scope=\"col\">Owner"),
        "owners see no owner column"
    );

    let page = format!("/dashboard/assistants/{}", front.id);
    let (status, _, body) = app.get_page(&owner, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Front desk"));
    assert!(
        body.contains("id=\"assign\""),
        "the place for the assign form"
    );
    assert!(body.contains("Assign a number"));
    assert!(
        body.contains("/dashboard/phone-numbers/n1"),
        "its number links to the number's page"
    );
    assert!(
        body.contains("Unassign them first"),
        "delete is refused up front"
    );

    // The admin sees the owner choice; an owner opening someone else's assistant gets a 404.
    let (_, _, body) = app.get_page(&app.client, "/dashboard/assistants").await;
    assert!(body.contains("field-owner_id"));
    assert!(
        body.contains("<th scope=\"col\">Owner"),
        "admins see the owner column"
    );
    let admins = create(&app, &app.client, "Sales", "sales-agent").await;
    let (status, _, body) = app
        .get_page(&owner, &format!("/dashboard/assistants/{}", admins.id))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Assistant not found"));
    assert!(!body.contains("sales-agent"));
    let (status, _, body) = app
        .get_page(&app.client, &format!("/dashboard/assistants/{}", admins.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No numbers yet"));
    assert!(body.contains("Delete assistant"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forms_work_without_javascript() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;
    let list_page = app.url("/dashboard/assistants");
    let post = |endpoint: &str, referer: &str, form: Vec<(&str, &str)>| {
        owner
            .post(app.url(&format!("/api/{endpoint}")))
            .header("accept", "text/html")
            .header("referer", referer)
            .form(&form)
            .send()
    };

    // A refused form comes back to the page with the message next to its field.
    let response = post(
        "assistants/create",
        &list_page,
        form("Front desk", "front-desk", "{\"language\": \"en\""),
    )
    .await
    .unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("__err="), "{location}");
    let path = location.trim_start_matches(&app.address).to_string();
    let (status, _, body) = app.get_page(&owner, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Metadata is not valid JSON"),
        "shown without JS"
    );
    assert!(body.contains("field-metadata-error"));

    // A created assistant opens its own page.
    let response = post(
        "assistants/create",
        &list_page,
        form("Front desk", "front-desk", "{\"language\": \"en\"}"),
    )
    .await
    .unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let list: Vec<Assistant> = app.call(&owner, "assistants/list", &[]).await.unwrap();
    assert_eq!(list.len(), 1);
    let page = format!("/dashboard/assistants/{}", list[0].id);
    assert!(location.ends_with(&page), "{location}");
    let (status, _, body) = app.get_page(&owner, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Front desk"));

    // Deleting goes back to the list.
    let response = post(
        "assistants/delete",
        &app.url(&page),
        vec![("id", &list[0].id)],
    )
    .await
    .unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.ends_with("/dashboard/assistants"), "{location}");
    let list: Vec<Assistant> = app.call(&owner, "assistants/list", &[]).await.unwrap();
    assert!(list.is_empty());
    // The list it lands on says what happened, once.
    let (_, _, body) = app.get_page(&owner, "/dashboard/assistants").await;
    assert!(body.contains("Deleted assistant Front desk."), "{body}");
    let (_, _, body) = app.get_page(&owner, "/dashboard/assistants").await;
    assert!(!body.contains("Deleted assistant Front desk."));
}

/// Issue 18: names that differ only by case (or surrounding spaces) were accepted as
/// different. They are the same name for one owner; another owner may use it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_differ_only_by_case_are_duplicates() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;
    let reception = create(&app, &app.client, "Reception", "front-desk").await;
    for typed in ["reception", "  RECEPTION ", "Reception"] {
        let err = create_err(&app, &app.client, &form(typed, "front-desk", "")).await;
        let message = err
            .field("name")
            .unwrap_or_else(|| panic!("{typed:?}: {err:?}"));
        assert!(
            message.contains("You already have an assistant called \u{201c}Reception\u{201d}"),
            "{message}"
        );
        assert_eq!(
            message.contains("differ only in capitals"),
            typed.trim() != "Reception",
            "{message}"
        );
    }
    // Non-ASCII letters fold too (on SQLite as on PostgreSQL).
    create(&app, &app.client, "Équipe", "team").await;
    let err = create_err(&app, &app.client, &form("équipe", "team", "")).await;
    assert!(err.field("name").is_some(), "{err:?}");

    // Renaming another assistant onto it is refused the same way; its own name in
    // another case is a rename, not a clash.
    let sales = create(&app, &app.client, "Sales", "sales").await;
    let mut rename = form("RECEPTION", "sales", "");
    rename.push(("id", &sales.id));
    let err = app
        .call::<Assistant>(&app.client, "assistants/update", &rename)
        .await
        .unwrap_err();
    assert!(err.field("name").is_some(), "{err:?}");
    let mut recase = form("reception", "front-desk", "");
    recase.push(("id", &reception.id));
    let recased: Assistant = app
        .call(&app.client, "assistants/update", &recase)
        .await
        .unwrap();
    assert_eq!(recased.name, "reception");

    // Another owner's "Reception" is theirs to have.
    create(&app, &owner, "Reception", "front-desk").await;

    // The database holds the rule too, whatever writes to it.
    let admin_id: String = sqlx::query_scalar("SELECT owner_id FROM assistants WHERE id = $1")
        .bind(&reception.id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let direct = sqlx::query(
        "INSERT INTO assistants (id, owner_id, name, agent_name, created_at, updated_at) \
         VALUES ('direct', $1, 'RECEPTION', 'x', 1, 1)",
    )
    .bind(&admin_id)
    .execute(&app.state.db.pool)
    .await;
    assert!(direct.is_err(), "the unique index refuses a case-duplicate");
}

/// Issue 18: an admin sees several owners' assistants in one picker; equal names are told
/// apart by their owner ("Reception — olivia"), in the calls filter and when assigning an
/// unallotted number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickers_name_the_owner_when_names_repeat_across_owners() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;
    create(&app, &app.client, "Reception", "front-desk").await;
    create(&app, &owner, "Reception", "front-desk").await;
    sqlx::query(
        "INSERT INTO phone_numbers (id, e164, label, country, created_at, updated_at) \
         VALUES ('free', '+14155550177', '', 'US', 1, 1)",
    )
    .execute(&app.state.db.pool)
    .await
    .expect("an unallotted number");
    let routing: dial_app::model::Routing = app
        .call(&app.client, "assignment/routing", &[("number_id", "free")])
        .await
        .unwrap();
    let mut names: Vec<String> = routing.assistants.into_iter().map(|a| a.name).collect();
    names.sort();
    assert_eq!(
        names,
        ["Reception \u{2014} admin", "Reception \u{2014} olivia"]
    );

    let (_, _, calls) = app.get_page(&app.client, "/dashboard/calls").await;
    assert!(
        calls.contains("Reception \u{2014} admin") && calls.contains("Reception \u{2014} olivia"),
        "the calls filter tells them apart"
    );
    // An owner's pickers list only their own, by name alone.
    let (_, _, theirs) = app.get_page(&owner, "/dashboard/calls").await;
    assert!(theirs.contains(">Reception<") && !theirs.contains("\u{2014} olivia"));
}

/// Migration 0010 makes names unique whatever their case; pairs written before it keep
/// the oldest name and the others get their id appended, so the migration never fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_renames_existing_case_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database_url(dir.path()).await;
    let folder = if url.starts_with("postgres") {
        "migrations/postgres"
    } else {
        "migrations/sqlite"
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(folder))
        .await
        .expect("migrations");
    let all = before.migrations.clone();
    assert!(all.iter().any(|m| m.version == 10), "0010 exists");
    before.migrations = all.iter().filter(|m| m.version < 10).cloned().collect();
    before.run(&pool).await.expect("migrate to 0009");
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) \
         VALUES ('u1', 'ana', 'x', 'owner', 1, 1), ('u2', 'ben', 'x', 'owner', 1, 1)",
    )
    .execute(&pool)
    .await
    .expect("users");
    for (id, owner, name, at) in [
        ("a1", "u1", "Reception", 1),
        ("a2", "u1", "reception", 2),
        ("a3", "u1", "RECEPTION", 3),
        ("a4", "u2", "reception", 4),
        ("a5", "u1", "Sales", 5),
    ] {
        sqlx::query(
            "INSERT INTO assistants (id, owner_id, name, agent_name, created_at, updated_at) \
             VALUES ($1, $2, $3, 'agent', $4, $4)",
        )
        .bind(id)
        .bind(owner)
        .bind(name)
        .bind(at)
        .execute(&pool)
        .await
        .expect("assistant");
    }
    let mut after = sqlx::migrate::Migrator::new(std::path::Path::new(folder))
        .await
        .expect("migrations");
    after.migrations = all;
    after
        .run(&pool)
        .await
        .expect("0010 applies over duplicates");
    let names: Vec<(String, String)> =
        sqlx::query_as("SELECT id, name FROM assistants ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        names,
        [
            ("a1".to_string(), "Reception".to_string()),
            ("a2".to_string(), "reception (a2)".to_string()),
            ("a3".to_string(), "RECEPTION (a3)".to_string()),
            ("a4".to_string(), "reception".to_string()),
            ("a5".to_string(), "Sales".to_string()),
        ]
    );
    pool.close().await;
}
