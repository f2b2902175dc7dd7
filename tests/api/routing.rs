use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::{NumberMetadata, NumberRow, Page, RoutingProfile},
};

fn profile_form<'a>(name: &'a str, country: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("plan_code", "PLAN-1"),
        ("country", country),
        ("outbound_provider", ""),
        ("outbound_trunk_ref", "TK-out"),
        ("inbound_trunk_ref", "TK-in"),
    ]
}

async fn a_number(app: &TestApp) -> String {
    sqlx::query(
        "INSERT INTO phone_numbers (id, e164, label, country, created_at, updated_at) VALUES ('n1', '+14155550100', 'Front desk', 'US', 1, 1)",
    )
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    "n1".to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_profiles_are_created_validated_edited_and_deleted() {
    let app = spawn_with_admin().await;
    let id: String = app
        .call(
            &app.client,
            "routing-profiles/create",
            &profile_form("US retail", "us"),
        )
        .await
        .unwrap();
    let list: Vec<RoutingProfile> = app
        .call(&app.client, "routing-profiles/list", &[])
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].country, "US");
    assert_eq!(list[0].outbound_provider, "twilio", "the default provider");

    let duplicate = app
        .call::<String>(
            &app.client,
            "routing-profiles/create",
            &profile_form("US retail", "US"),
        )
        .await
        .unwrap_err();
    assert!(duplicate.field("name").unwrap().contains("already exists"));
    let bad = app
        .call::<String>(
            &app.client,
            "routing-profiles/create",
            &profile_form("", "UK"),
        )
        .await
        .unwrap_err();
    assert!(bad.field("name").is_some());
    assert!(bad.field("country").unwrap().contains("ISO 3166"));

    let mut edit = profile_form("US retail (new)", "US");
    edit.push(("id", &id));
    app.call::<()>(&app.client, "routing-profiles/update", &edit)
        .await
        .unwrap();
    let list: Vec<RoutingProfile> = app
        .call(&app.client, "routing-profiles/list", &[])
        .await
        .unwrap();
    assert_eq!(list[0].name, "US retail (new)");

    // Linked to a number, then deleted: the number is unlinked, not removed.
    let number = a_number(&app).await;
    app.call::<()>(
        &app.client,
        "numbers/metadata/save",
        &[
            ("id", &number),
            ("routing_profile_id", &id),
            ("compliance", "a2p_status: approved\ncnam = Dial Inc"),
        ],
    )
    .await
    .unwrap();
    let meta: NumberMetadata = app
        .call(&app.client, "numbers/metadata", &[("id", &number)])
        .await
        .unwrap();
    assert_eq!(meta.routing_profile_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        meta.compliance,
        vec![
            ("a2p_status".to_string(), "approved".to_string()),
            ("cnam".to_string(), "Dial Inc".to_string())
        ]
    );
    let row: NumberRow = app
        .call(&app.client, "numbers/get", &[("id", &number)])
        .await
        .unwrap();
    assert_eq!(row.routing_profile.as_deref(), Some("US retail (new)"));
    let list: Vec<RoutingProfile> = app
        .call(&app.client, "routing-profiles/list", &[])
        .await
        .unwrap();
    assert_eq!(list[0].numbers, 1);

    let unlinked: u64 = app
        .call(&app.client, "routing-profiles/delete", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(unlinked, 1);
    let page: Page<NumberRow> = app.call(&app.client, "numbers/list", &[]).await.unwrap();
    assert_eq!(page.total, 1, "the number is still there");
    assert!(page.items[0].routing_profile.is_none());
    let gone = app
        .call::<u64>(&app.client, "routing-profiles/delete", &[("id", &id)])
        .await
        .unwrap_err();
    assert!(matches!(gone, AppError::NotFound { .. }));
    let actions = app.audit_actions().await;
    for a in [
        "routing_profile.created",
        "routing_profile.updated",
        "routing_profile.deleted",
        "number.metadata_set",
    ] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_state_is_validated_and_only_admins_change_it() {
    let app = spawn_with_admin().await;
    let number = a_number(&app).await;
    let bad = app
        .call::<()>(
            &app.client,
            "numbers/metadata/save",
            &[("id", &number), ("compliance", "no separator here")],
        )
        .await
        .unwrap_err();
    assert!(bad.field("compliance").unwrap().contains("Line 1"));
    let unknown = app
        .call::<()>(
            &app.client,
            "numbers/metadata/save",
            &[("id", &number), ("routing_profile_id", "nope")],
        )
        .await
        .unwrap_err();
    assert!(unknown.field("routing_profile_id").is_some());

    let (owner, owner_id) = app.owner_client().await;
    for (endpoint, form) in [
        ("routing-profiles/list", vec![]),
        ("routing-profiles/create", profile_form("x", "US")),
        ("routing-profiles/delete", vec![("id", "x")]),
        (
            "numbers/metadata/save",
            vec![("id", number.as_str()), ("compliance", "a: b")],
        ),
    ] {
        let err = app
            .call::<serde_json::Value>(&owner, endpoint, &form)
            .await
            .unwrap_err();
        assert_eq!(err, AppError::Forbidden, "{endpoint}");
    }
    // The owner sees the metadata of their own number only.
    let hidden = app
        .call::<NumberMetadata>(&owner, "numbers/metadata", &[("id", &number)])
        .await
        .unwrap_err();
    assert!(matches!(hidden, AppError::NotFound { .. }));
    sqlx::query("UPDATE phone_numbers SET owner_id = $1")
        .bind(&owner_id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let meta: NumberMetadata = app
        .call(&owner, "numbers/metadata", &[("id", &number)])
        .await
        .unwrap();
    assert!(meta.compliance.is_empty());
}
