//! Users: first-run, login with throttling, and administration.

use super::{
    audit::{self, Actor},
    db::{is_unique_violation, Db},
    new_id, now, password, sessions, validate,
};
use crate::{
    error::AppError,
    model::{Me, Role, UserRow},
};
use secrecy::{ExposeSecret, SecretString};

/// Failed logins per user name within the window before further attempts are refused.
pub const MAX_FAILURES_PER_USER: i64 = 5;
/// Failed logins per client address within the window.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// The throttling window, in seconds.
pub const WINDOW_SECS: i64 = 15 * 60;

type UserTuple = (String, String, String, i64, i64, Option<i64>);

fn row_to_user((id, username, role, disabled, created_at, last_login_at): UserTuple) -> UserRow {
    UserRow {
        id,
        username,
        role: Role::parse(&role).unwrap_or(Role::Owner),
        disabled: disabled != 0,
        created_at,
        last_login_at,
    }
}

/// The active (not disabled) user with this id.
pub async fn find_active(db: &Db, id: &str) -> Result<Option<Me>, sqlx::Error> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT id, username, role FROM users WHERE id = $1 AND disabled = 0")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(id, username, role)| Me {
        id,
        username,
        role: Role::parse(&role).unwrap_or(Role::Owner),
    }))
}

pub async fn list(db: &Db) -> Result<Vec<UserRow>, AppError> {
    let rows: Vec<UserTuple> = sqlx::query_as(
        "SELECT id, username, role, disabled, created_at, last_login_at FROM users ORDER BY username",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(row_to_user).collect())
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    username: &str,
    hash: &str,
    role: Role,
) -> Result<String, AppError> {
    let id = new_id();
    let at = now();
    let result = sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $5)",
    )
    .bind(&id)
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await;
    match result {
        Ok(_) => Ok(id),
        Err(e) if is_unique_violation(&e) => Err(AppError::invalid(
            "username",
            format!("A user named \u{201c}{username}\u{201d} already exists. Choose another name."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// First-run: creates the first admin, exactly once. A second call is refused even if it
/// races the first (the `first_admin` marker row is unique).
pub async fn create_first_admin(
    db: &Db,
    actor: &Actor,
    username: &str,
    password: SecretString,
    confirm: &str,
) -> Result<Me, AppError> {
    let already =
        || AppError::conflict("Dial is already set up. Sign in with an existing account.");
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&db.pool)
        .await?;
    if existing > 0 {
        return Err(already());
    }
    let username = validate::username("username", username).map_err(one)?;
    validate::new_password("password", password.expose_secret(), Some(confirm)).map_err(one)?;
    let hash = password::hash(password).await?;

    let mut tx = db.pool.begin().await?;
    let marker = sqlx::query(
        "INSERT INTO app_state (key, value, updated_at) VALUES ('first_admin', $1, $2)",
    )
    .bind(&username)
    .bind(now())
    .execute(&mut *tx)
    .await;
    match marker {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(already()),
        Err(e) => return Err(e.into()),
    }
    let id = insert(&mut tx, &username, &hash, Role::Admin).await?;
    tx.commit().await?;
    let actor = Actor {
        user_id: Some(id.clone()),
        username: Some(username.clone()),
        ..actor.clone()
    };
    audit::record(
        db,
        &actor,
        "setup.first_admin_created",
        Some(&username),
        None,
    )
    .await?;
    Ok(Me {
        id,
        username,
        role: Role::Admin,
    })
}

fn one(e: crate::error::FieldError) -> AppError {
    AppError::Invalid { errors: vec![e] }
}

pub async fn create(
    db: &Db,
    actor: &Actor,
    username: &str,
    password: SecretString,
    role: &str,
) -> Result<UserRow, AppError> {
    let mut errors = Vec::new();
    let username = validate::username("username", username)
        .map_err(|e| errors.push(e))
        .ok();
    let role = Role::parse(role);
    if role.is_none() {
        errors.push(crate::error::FieldError::new(
            "role",
            "Choose a role: administrator or assistant owner.",
        ));
    }
    if let Err(e) = validate::new_password("password", password.expose_secret(), None) {
        errors.push(e);
    }
    let (Some(username), Some(role), true) = (username, role, errors.is_empty()) else {
        return Err(AppError::Invalid { errors });
    };
    let hash = password::hash(password).await?;
    let mut tx = db.pool.begin().await?;
    let id = insert(&mut tx, &username, &hash, role).await?;
    tx.commit().await?;
    audit::record(
        db,
        actor,
        "user.created",
        Some(&username),
        Some(&format!("role {}", role.as_str())),
    )
    .await?;
    Ok(UserRow {
        id,
        username,
        role,
        disabled: false,
        created_at: now(),
        last_login_at: None,
    })
}

async fn username_of(db: &Db, user_id: &str) -> Result<String, AppError> {
    sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| AppError::not_found("That user"))
}

/// Sets a new password and ends the user's sessions.
pub async fn reset_password(
    db: &Db,
    actor: &Actor,
    user_id: &str,
    password: SecretString,
) -> Result<(), AppError> {
    let username = username_of(db, user_id).await?;
    validate::new_password("password", password.expose_secret(), None).map_err(one)?;
    let hash = password::hash(password).await?;
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now())
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    let ended = sessions::end_sessions_of(db, user_id).await?;
    audit::record(
        db,
        actor,
        "user.password_reset",
        Some(&username),
        Some(&format!("{ended} session(s) ended")),
    )
    .await
}

/// Disables or re-enables a user; disabling ends the user's sessions at once.
pub async fn set_disabled(
    db: &Db,
    actor: &Actor,
    user_id: &str,
    disabled: bool,
) -> Result<(), AppError> {
    if disabled && actor.user_id.as_deref() == Some(user_id) {
        return Err(AppError::conflict("You cannot disable your own account."));
    }
    let username = username_of(db, user_id).await?;
    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(disabled))
        .bind(now())
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    if disabled {
        let ended = sessions::end_sessions_of(db, user_id).await?;
        audit::record(
            db,
            actor,
            "user.disabled",
            Some(&username),
            Some(&format!("{ended} session(s) ended")),
        )
        .await
    } else {
        audit::record(db, actor, "user.enabled", Some(&username), None).await
    }
}

/// Seconds until another attempt is allowed, if the `limit`-th most recent failure
/// within the window (and after the last success, for user names) is recent.
async fn locked_for(
    db: &Db,
    column: &str,
    key: &str,
    limit: i64,
    since_success: bool,
) -> Result<Option<u64>, AppError> {
    let window_start = now() - WINDOW_SECS;
    let last_success: i64 = if since_success {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MAX(id) FROM audit_log WHERE action = 'login.succeeded' AND target = $1",
        )
        .bind(key)
        .fetch_one(&db.pool)
        .await?
        .unwrap_or(0)
    } else {
        0
    };
    // `column` is one of two constants chosen below, never input.
    let sql = format!(
        "SELECT at FROM audit_log WHERE action = 'login.failed' AND {column} = $1 AND at > $2 AND id > $3 \
         ORDER BY id DESC LIMIT 1 OFFSET $4"
    );
    let nth: Option<i64> = sqlx::query_scalar(&sql)
        .bind(key)
        .bind(window_start)
        .bind(last_success)
        .bind(limit - 1)
        .fetch_optional(&db.pool)
        .await?;
    Ok(nth.map(|at| (at + WINDOW_SECS - now()).max(1) as u64))
}

/// Checks the password; every attempt, refused or not, goes to the audit log.
pub async fn login(
    db: &Db,
    ip: Option<String>,
    username: &str,
    password: SecretString,
) -> Result<Me, AppError> {
    let name = username.trim().to_lowercase();
    let anonymous = Actor {
        user_id: None,
        username: None,
        ip: ip.clone(),
    };
    if name.is_empty() {
        return Err(AppError::invalid("username", "Enter your username."));
    }
    let by_user = locked_for(db, "target", &name, MAX_FAILURES_PER_USER, true).await?;
    let by_ip = match &ip {
        Some(ip) => locked_for(db, "ip", ip, MAX_FAILURES_PER_ADDRESS, false).await?,
        None => None,
    };
    if let Some(wait) = by_user.max(by_ip) {
        audit::record(db, &anonymous, "login.throttled", Some(&name), None).await?;
        return Err(AppError::TooManyAttempts {
            retry_after_secs: wait,
        });
    }

    let row: Option<(String, String, String, i64)> =
        sqlx::query_as("SELECT id, password_hash, role, disabled FROM users WHERE username = $1")
            .bind(&name)
            .fetch_optional(&db.pool)
            .await?;
    let stored = row.as_ref().map(|(_, hash, _, _)| hash.clone());
    let ok = password::verify(password, stored).await;
    match row {
        Some((id, _, role, disabled)) if ok && disabled == 0 => {
            sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                .bind(now())
                .bind(&id)
                .execute(&db.pool)
                .await?;
            let actor = Actor {
                user_id: Some(id.clone()),
                username: Some(name.clone()),
                ip,
            };
            audit::record(db, &actor, "login.succeeded", Some(&name), None).await?;
            Ok(Me {
                id,
                username: name,
                role: Role::parse(&role).unwrap_or(Role::Owner),
            })
        }
        Some((_, _, _, disabled)) if ok && disabled != 0 => {
            audit::record(
                db,
                &anonymous,
                "login.failed",
                Some(&name),
                Some("account disabled"),
            )
            .await?;
            Err(AppError::conflict(
                "This account is disabled. Ask an administrator to enable it.",
            ))
        }
        _ => {
            audit::record(
                db,
                &anonymous,
                "login.failed",
                Some(&name),
                Some("wrong username or password"),
            )
            .await?;
            Err(AppError::invalid("password", "Wrong username or password."))
        }
    }
}

/// `dial create-admin`: creates an admin from the command line (first run or later).
pub async fn create_admin_cli(
    db: &Db,
    username: &str,
    password: SecretString,
) -> Result<UserRow, AppError> {
    let actor = Actor::system("dial create-admin");
    let user = create(db, &actor, username, password, "admin").await?;
    // Mark first-run as done so the setup page never appears again.
    let _ = sqlx::query(
        "INSERT INTO app_state (key, value, updated_at) VALUES ('first_admin', $1, $2)",
    )
    .bind(&user.username)
    .bind(now())
    .execute(&db.pool)
    .await;
    Ok(user)
}
