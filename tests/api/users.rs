use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::{Me, Role, UserRow},
};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_owners_and_admins() {
    let app = spawn_with_admin().await;
    let owner: UserRow = app
        .call(
            &app.client,
            "users/create",
            &[
                ("username", "Olivia"),
                ("password", OWNER_PASSWORD),
                ("role", "owner"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(owner.username, "olivia");
    assert_eq!(owner.role, Role::Owner);
    let admin: UserRow = app
        .call(
            &app.client,
            "users/create",
            &[
                ("username", "second"),
                ("password", OWNER_PASSWORD),
                ("role", "admin"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Admin);

    let duplicate = app
        .call::<UserRow>(
            &app.client,
            "users/create",
            &[
                ("username", "olivia"),
                ("password", OWNER_PASSWORD),
                ("role", "owner"),
            ],
        )
        .await
        .unwrap_err();
    assert!(duplicate
        .field("username")
        .unwrap()
        .contains("already exists"));
    let bad = app
        .call::<UserRow>(
            &app.client,
            "users/create",
            &[("username", "x"), ("password", "short"), ("role", "king")],
        )
        .await
        .unwrap_err();
    assert!(
        bad.field("username").is_some()
            && bad.field("password").is_some()
            && bad.field("role").is_some()
    );

    let list: Vec<UserRow> = app.call(&app.client, "users/list", &[]).await.unwrap();
    let names: Vec<&str> = list.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["admin", "olivia", "second"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let me: Option<Me> = app.call(&owner, "me", &[]).await.unwrap();
    assert!(me.is_some());

    app.call::<()>(
        &app.client,
        "users/set-disabled",
        &[("user_id", &owner_id), ("disabled", "true")],
    )
    .await
    .unwrap();
    let me: Option<Me> = app.call(&owner, "me", &[]).await.unwrap();
    assert!(me.is_none(), "the disabled user's session ended");
    let (_, location, _) = app.get_page(&owner, "/dashboard").await;
    assert!(location.unwrap().starts_with("/login"));
    let refused = app.login(&owner, OWNER, OWNER_PASSWORD).await.unwrap_err();
    assert!(refused.to_string().contains("disabled"));

    app.call::<()>(
        &app.client,
        "users/set-disabled",
        &[("user_id", &owner_id), ("disabled", "false")],
    )
    .await
    .unwrap();
    app.login(&owner, OWNER, OWNER_PASSWORD).await.unwrap();
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"user.disabled".to_string())
            && actions.contains(&"user.enabled".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_cannot_disable_themselves() {
    let app = spawn_with_admin().await;
    let me: Option<Me> = app.call(&app.client, "me", &[]).await.unwrap();
    let err = app
        .call::<()>(
            &app.client,
            "users/set-disabled",
            &[("user_id", &me.unwrap().id), ("disabled", "true")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_replaces_the_password_and_ends_sessions() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let short = app
        .call::<()>(
            &app.client,
            "users/reset-password",
            &[("user_id", &owner_id), ("password", "short")],
        )
        .await
        .unwrap_err();
    assert!(short.field("password").is_some());
    app.call::<()>(
        &app.client,
        "users/reset-password",
        &[("user_id", &owner_id), ("password", "brand new password")],
    )
    .await
    .unwrap();
    let me: Option<Me> = app.call(&owner, "me", &[]).await.unwrap();
    assert!(me.is_none());
    assert!(app.login(&owner, OWNER, OWNER_PASSWORD).await.is_err());
    app.login(&owner, OWNER, "brand new password")
        .await
        .unwrap();
    let unknown = app
        .call::<()>(
            &app.client,
            "users/reset-password",
            &[
                ("user_id", "no-such-id"),
                ("password", "brand new password"),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(unknown, AppError::NotFound { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_are_refused_by_every_admin_server_function() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let admin_calls: &[(&str, &[(&str, &str)])] = &[
        ("users/list", &[]),
        (
            "users/create",
            &[
                ("username", "eve"),
                ("password", OWNER_PASSWORD),
                ("role", "admin"),
            ],
        ),
        (
            "users/reset-password",
            &[("user_id", &owner_id), ("password", "a new password")],
        ),
        (
            "users/set-disabled",
            &[("user_id", &owner_id), ("disabled", "true")],
        ),
        ("settings/twilio", &[]),
        (
            "settings/twilio/save",
            &[("account_sid", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")],
        ),
        ("settings/twilio/test", &[]),
        ("settings/livekit", &[]),
        ("audit", &[("page", "1")]),
    ];
    let anonymous = new_client();
    for (endpoint, form) in admin_calls {
        let as_owner = app.call::<serde_json::Value>(&owner, endpoint, form).await;
        assert_eq!(
            as_owner.unwrap_err(),
            AppError::Forbidden,
            "{endpoint} as owner"
        );
        let as_nobody = app
            .call::<serde_json::Value>(&anonymous, endpoint, form)
            .await;
        assert_eq!(
            as_nobody.unwrap_err(),
            AppError::Unauthorized,
            "{endpoint} signed out"
        );
    }
    // Nothing changed: no user "eve", the owner is still enabled, no settings stored.
    let list: Vec<UserRow> = app.call(&app.client, "users/list", &[]).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|u| !u.disabled));
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM twilio_config")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_get_a_403_page_for_admin_pages() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;
    for path in [
        "/dashboard/settings/admin/users",
        "/dashboard/settings/admin/telephony/twilio",
        "/dashboard/settings/admin/telephony/livekit",
        "/dashboard/settings/admin/audit",
    ] {
        let (status, _, body) = app.get_page(&owner, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("Administrators only"), "{path}");
        let (status, _, body) = app.get_page(&app.client, path).await;
        assert_eq!(status, StatusCode::OK, "{path} as admin");
        assert!(!body.contains("Administrators only"), "{path} as admin");
    }
    // Owners still reach their own pages.
    for path in [
        "/dashboard",
        "/dashboard/phone-numbers",
        "/dashboard/assistants",
        "/dashboard/calls",
        "/dashboard/settings",
    ] {
        let (status, _, _) = app.get_page(&owner, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_page_never_offers_to_disable_ones_own_account() {
    let app = spawn_with_admin().await;
    app.owner_client().await;
    let (status, _, page) = app
        .get_page(&app.client, "/dashboard/settings/admin/users")
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let row = |name: &str| -> String {
        let start = page
            .find(&format!("data-user=\"{name}\""))
            .unwrap_or_else(|| panic!("no row for {name}"));
        let end = page[start..]
            .find("</tr>")
            .map_or(page.len(), |e| start + e);
        page[start..end].to_string()
    };
    let mine = row(ADMIN);
    assert!(!mine.contains("Disable"), "{mine}");
    assert!(mine.contains("This is you"), "{mine}");
    assert!(row(OWNER).contains(&format!("Disable {OWNER}")));
}
