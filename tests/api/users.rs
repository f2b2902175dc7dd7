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
        (
            "users/set-role",
            &[("user_id", &owner_id), ("role", "admin")],
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
    assert_eq!(role_of(&app, &owner_id).await, Role::Owner);
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

/// A client without a cookie jar, so a session's cookie can be replayed by hand.
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts a server function with the given cookie; the answer's status, body and new
/// session cookie (if it set one).
async fn post_with_cookie(
    app: &TestApp,
    endpoint: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let response = bare_client()
        .post(app.url(&format!("/api/{endpoint}")))
        .header("accept", "application/json")
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    (status, response.text().await.unwrap(), set_cookie)
}

async fn me_with_cookie(app: &TestApp, cookie: &str) -> Option<Me> {
    let (status, body, _) = post_with_cookie(app, "me", cookie, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

const NEW_PASSWORD: &str = "a much better password";

fn change_form<'a>(current: &'a str, new: &'a str, confirm: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("current_password", current),
        ("password", new),
        ("password_confirm", confirm),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_ones_password_signs_out_everywhere_else_but_here() {
    let app = spawn_with_admin().await;
    // The owner signed in twice: on a phone (`elsewhere`) and here (by hand, to see the
    // cookie change).
    let (elsewhere, _) = app.owner_client().await;
    let (_, _, cookie) = post_with_cookie(
        &app,
        "login",
        "",
        &[("username", OWNER), ("password", OWNER_PASSWORD)],
    )
    .await;
    let here = cookie.expect("a session cookie at login");
    assert_eq!(me_with_cookie(&app, &here).await.unwrap().username, OWNER);

    let (status, body, renewed) = post_with_cookie(
        &app,
        "account/password",
        &here,
        &change_form(OWNER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "1", "one other session ended");
    // This browser stays signed in, under a new session id; the old id is worthless.
    let renewed = renewed.expect("a new session cookie");
    assert_ne!(renewed, here);
    assert_eq!(
        me_with_cookie(&app, &renewed).await.unwrap().username,
        OWNER
    );
    assert!(me_with_cookie(&app, &here).await.is_none());
    // The other browser is signed out, on every kind of request.
    let me: Option<Me> = app.call(&elsewhere, "me", &[]).await.unwrap();
    assert!(me.is_none(), "the other session ended");
    let (_, location, _) = app.get_page(&elsewhere, "/dashboard").await;
    assert!(location.unwrap().starts_with("/login"));
    // Only the new password signs in; the admin's session was never touched.
    assert!(app.login(&elsewhere, OWNER, OWNER_PASSWORD).await.is_err());
    app.login(&elsewhere, OWNER, NEW_PASSWORD).await.unwrap();
    let admin: Option<Me> = app.call(&app.client, "me", &[]).await.unwrap();
    assert_eq!(admin.unwrap().username, ADMIN);

    let audit: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT actor_name, target, detail FROM audit_log WHERE action = 'user.password_changed'",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        [(
            OWNER.to_string(),
            Some(OWNER.to_string()),
            Some("1 other session(s) ended".to_string())
        )]
    );
    let everything = app.all_bodies() + &captured_logs();
    assert!(!everything.contains(NEW_PASSWORD));
    assert!(!everything.contains("$argon2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_current_password_changes_nothing_and_is_throttled() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;
    let (elsewhere, _) = {
        let client = new_client();
        app.login(&client, OWNER, OWNER_PASSWORD).await.unwrap();
        (client, ())
    };
    let err = app
        .call::<u64>(
            &owner,
            "account/password",
            &change_form("not my password", NEW_PASSWORD, NEW_PASSWORD),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.field("current_password").as_deref(),
        Some("That is not your current password.")
    );
    // Nothing changed: both sessions are signed in and the old password still works.
    for client in [&owner, &elsewhere] {
        let me: Option<Me> = app.call(client, "me", &[]).await.unwrap();
        assert!(me.is_some());
    }
    app.login(&new_client(), OWNER, OWNER_PASSWORD)
        .await
        .unwrap();
    assert!(app
        .audit_actions()
        .await
        .contains(&"user.password_change_refused".to_string()));

    // Guessing is throttled like signing in: after the free attempts, even the right
    // password waits.
    for _ in 0..dial_app::server::users::MAX_FAILURES_PER_USER {
        let err = app
            .call::<u64>(
                &owner,
                "account/password",
                &change_form("still not it", NEW_PASSWORD, NEW_PASSWORD),
            )
            .await
            .unwrap_err();
        assert!(err.field("current_password").is_some(), "{err:?}");
    }
    let err = app
        .call::<u64>(
            &owner,
            "account/password",
            &change_form(OWNER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::TooManyAttempts { retry_after_secs } if retry_after_secs > 0),
        "{err:?}"
    );
    let me: Option<Me> = app.call(&owner, "me", &[]).await.unwrap();
    assert!(me.is_some(), "a refused change does not sign anyone out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_follows_the_same_rules_as_everywhere() {
    let app = spawn_with_admin().await;
    let (owner, _) = app.owner_client().await;
    let refused = |current: &'static str, new: &'static str, confirm: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            app.call::<u64>(
                owner,
                "account/password",
                &change_form(current, new, confirm),
            )
            .await
            .unwrap_err()
        }
    };
    let short = refused(OWNER_PASSWORD, "short", "short").await;
    assert_eq!(
        short.field("password").as_deref(),
        Some("Password must be at least 10 characters long.")
    );
    let mismatch = refused(OWNER_PASSWORD, NEW_PASSWORD, "something else entirely").await;
    assert!(mismatch.field("password_confirm").is_some(), "{mismatch:?}");
    let same = refused(OWNER_PASSWORD, OWNER_PASSWORD, OWNER_PASSWORD).await;
    assert!(same.field("password").is_some(), "{same:?}");
    let empty = refused("", NEW_PASSWORD, NEW_PASSWORD).await;
    assert!(empty.field("current_password").is_some(), "{empty:?}");
    // Nothing changed.
    app.login(&owner, OWNER, OWNER_PASSWORD).await.unwrap();
    assert!(!app
        .audit_actions()
        .await
        .contains(&"user.password_changed".to_string()));
    // Signed out, there is no password to change.
    let signed_out = app
        .call::<u64>(
            &new_client(),
            "account/password",
            &change_form(OWNER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
        )
        .await
        .unwrap_err();
    assert_eq!(signed_out, AppError::Unauthorized);
}

async fn role_of(app: &TestApp, user_id: &str) -> Role {
    let list: Vec<UserRow> = app.call(&app.client, "users/list", &[]).await.unwrap();
    list.into_iter().find(|u| u.id == user_id).unwrap().role
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_change_roles_and_open_sessions_follow_at_once() {
    let app = spawn_with_admin().await;
    let (owner, owner_id) = app.owner_client().await;
    let refused = app
        .call::<serde_json::Value>(&owner, "users/list", &[])
        .await;
    assert_eq!(refused.unwrap_err(), AppError::Forbidden);

    let stepped_down = app
        .call::<bool>(
            &app.client,
            "users/set-role",
            &[("user_id", &owner_id), ("role", "admin")],
        )
        .await
        .unwrap();
    assert!(!stepped_down);
    assert_eq!(role_of(&app, &owner_id).await, Role::Admin);
    // The owner's open session is an administrator's on its next request.
    let me: Option<Me> = app.call(&owner, "me", &[]).await.unwrap();
    assert_eq!(me.unwrap().role, Role::Admin);
    let list: Vec<UserRow> = app.call(&owner, "users/list", &[]).await.unwrap();
    assert_eq!(list.len(), 2);
    let (status, _, _) = app
        .get_page(&owner, "/dashboard/settings/admin/users")
        .await;
    assert_eq!(status, StatusCode::OK);

    app.call::<bool>(
        &app.client,
        "users/set-role",
        &[("user_id", &owner_id), ("role", "owner")],
    )
    .await
    .unwrap();
    assert_eq!(role_of(&app, &owner_id).await, Role::Owner);
    // Still signed in, but an owner again from this request on.
    let me: Option<Me> = app.call(&owner, "me", &[]).await.unwrap();
    assert_eq!(me.unwrap().role, Role::Owner);
    let refused = app
        .call::<serde_json::Value>(&owner, "users/list", &[])
        .await;
    assert_eq!(refused.unwrap_err(), AppError::Forbidden);
    let (status, _, _) = app
        .get_page(&owner, "/dashboard/settings/admin/users")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let audit: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT target, detail FROM audit_log WHERE action = 'user.role_changed' ORDER BY id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    let expected = |detail: &str| (OWNER.to_string(), Some(detail.to_string()));
    assert_eq!(
        audit,
        [expected("owner to admin"), expected("admin to owner")]
    );

    let bad_role = app
        .call::<bool>(
            &app.client,
            "users/set-role",
            &[("user_id", &owner_id), ("role", "king")],
        )
        .await
        .unwrap_err();
    assert!(bad_role.field("role").is_some(), "{bad_role:?}");
    let unknown = app
        .call::<bool>(
            &app.client,
            "users/set-role",
            &[("user_id", "no-such-id"), ("role", "admin")],
        )
        .await
        .unwrap_err();
    assert!(matches!(unknown, AppError::NotFound { .. }), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_active_admin_cannot_be_demoted_or_disabled() {
    let app = spawn_with_admin().await;
    let me: Me = app
        .call::<Option<Me>>(&app.client, "me", &[])
        .await
        .unwrap()
        .unwrap();
    let refused = app
        .call::<bool>(
            &app.client,
            "users/set-role",
            &[("user_id", &me.id), ("role", "owner")],
        )
        .await
        .unwrap_err();
    let AppError::Conflict { message } = &refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    assert!(message.contains("only active administrator"), "{message}");
    assert_eq!(role_of(&app, &me.id).await, Role::Admin);

    // With a second administrator, either may step down, but not both.
    let second: UserRow = app
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
    let other = new_client();
    app.login(&other, "second", OWNER_PASSWORD).await.unwrap();
    // Both at once: each demotes the other, then each disables the other.
    let demote_second = [("user_id", second.id.as_str()), ("role", "owner")];
    let demote_me = [("user_id", me.id.as_str()), ("role", "owner")];
    let (a, b) = tokio::join!(
        app.call::<bool>(&app.client, "users/set-role", &demote_second),
        app.call::<bool>(&other, "users/set-role", &demote_me),
    );
    let admins = |app: &TestApp| {
        let pool = app.state.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
    assert_eq!(admins(&app).await, 1, "{a:?} {b:?}");
    let (admin_client, admin_id, demoted_id) = if a.is_ok() {
        (&app.client, &me.id, &second.id)
    } else {
        (&other, &second.id, &me.id)
    };
    // The remaining admin makes the demoted one an admin again...
    app.call::<bool>(
        admin_client,
        "users/set-role",
        &[("user_id", demoted_id), ("role", "admin")],
    )
    .await
    .unwrap();
    // ...then both disable each other at once: one of them stays.
    let demoted_client = if a.is_ok() { &other } else { &app.client };
    let disable_demoted = [("user_id", demoted_id.as_str()), ("disabled", "true")];
    let disable_admin = [("user_id", admin_id.as_str()), ("disabled", "true")];
    let (a, b) = tokio::join!(
        app.call::<()>(admin_client, "users/set-disabled", &disable_demoted),
        app.call::<()>(demoted_client, "users/set-disabled", &disable_admin),
    );
    assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
    assert_eq!(admins(&app).await, 1, "{a:?} {b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_may_step_down_when_another_admin_remains() {
    let app = spawn_with_admin().await;
    let me: Me = app
        .call::<Option<Me>>(&app.client, "me", &[])
        .await
        .unwrap()
        .unwrap();
    app.call::<UserRow>(
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
    let stepped_down = app
        .call::<bool>(
            &app.client,
            "users/set-role",
            &[("user_id", &me.id), ("role", "owner")],
        )
        .await
        .unwrap();
    assert!(stepped_down, "the answer says one's own role changed");
    let now: Option<Me> = app.call(&app.client, "me", &[]).await.unwrap();
    assert_eq!(now.unwrap().role, Role::Owner);
    let refused = app
        .call::<serde_json::Value>(&app.client, "users/list", &[])
        .await;
    assert_eq!(refused.unwrap_err(), AppError::Forbidden);
    // Without JavaScript the form post lands on the settings overview (the users page
    // is no longer theirs).
    let other = new_client();
    app.login(&other, "second", OWNER_PASSWORD).await.unwrap();
    let second: Me = app
        .call::<Option<Me>>(&other, "me", &[])
        .await
        .unwrap()
        .unwrap();
    app.call::<bool>(
        &other,
        "users/set-role",
        &[("user_id", &me.id), ("role", "admin")],
    )
    .await
    .unwrap();
    let response = other
        .post(app.url("/api/users/set-role"))
        .header("accept", "text/html")
        .header("referer", app.url("/dashboard/settings/admin/users"))
        .form(&[("user_id", second.id.as_str()), ("role", "owner")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "/dashboard/settings"
    );
}
