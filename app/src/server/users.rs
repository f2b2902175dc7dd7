//! Users: first-run, login with throttling, and administration.

use super::{
    audit::{self, Actor},
    auth,
    db::{is_unique_violation, Backend, Db},
    new_id, now, validate,
};
use crate::{
    error::AppError,
    model::{Me, Role, UserRow},
};
use secrecy::{ExposeSecret, SecretString};

/// Sign-in attempts per user name from one address before each further one waits.
pub const MAX_FAILURES_PER_USER: i64 = 5;
/// Sign-in attempts from one address (any user names) before each further one waits.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// Failures older than this (with no wait pending) are forgotten, in seconds.
pub const WINDOW_SECS: i64 = 15 * 60;
/// The first wait once the free attempts are used; each further failure doubles it.
pub const FIRST_WAIT_SECS: i64 = 30;
/// The longest wait.
pub const MAX_WAIT_SECS: i64 = 15 * 60;

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
    let hash = auth::password::hash(password).await?;

    let mut tx = db.begin_write().await?;
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
    let id = insert(&mut tx.tx, &username, &hash, Role::Admin).await?;
    let actor = Actor {
        user_id: Some(id.clone()),
        username: Some(username.clone()),
        ..actor.clone()
    };
    audit::record_on(
        &mut *tx,
        &actor,
        "setup.first_admin_created",
        Some(&username),
        None,
    )
    .await?;
    tx.commit().await?;
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
    let hash = auth::password::hash(password).await?;
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx.tx, &username, &hash, role).await?;
    audit::record_on(
        &mut *tx,
        actor,
        "user.created",
        Some(&username),
        Some(&format!("role {}", role.as_str())),
    )
    .await?;
    tx.commit().await?;
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
    let hash = auth::password::hash(password).await?;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let ended = auth::sessions::end_sessions_of(&mut *tx, user_id).await?;
    audit::record_on(
        &mut *tx,
        actor,
        "user.password_reset",
        Some(&username),
        Some(&format!("{ended} session(s) ended")),
    )
    .await?;
    tx.commit().await?;
    Ok(())
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
    let mut tx = db.begin_write().await?;
    if disabled {
        let admins = active_admins(&mut tx, db.backend).await?;
        if is_last_admin(&admins, user_id) {
            return Err(last_admin(&username));
        }
    }
    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(disabled))
        .bind(now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if disabled {
        let ended = auth::sessions::end_sessions_of(&mut *tx, user_id).await?;
        audit::record_on(
            &mut *tx,
            actor,
            "user.disabled",
            Some(&username),
            Some(&format!("{ended} session(s) ended")),
        )
        .await?;
    } else {
        audit::record_on(&mut *tx, actor, "user.enabled", Some(&username), None).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The ids of the active administrators, read in a write transaction so that the answer
/// holds until it commits: on SQLite the transaction excludes every other writer; on
/// PostgreSQL the rows are locked, in id order (two such transactions never deadlock,
/// and the second reads the first's outcome once it commits).
async fn active_admins(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<Vec<String>, sqlx::Error> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    sqlx::query_scalar(&format!(
        "SELECT id FROM users WHERE role = 'admin' AND disabled = 0 ORDER BY id{lock}"
    ))
    .fetch_all(tx)
    .await
}

/// Whether taking `user_id` out of `admins` would leave no active administrator.
fn is_last_admin(admins: &[String], user_id: &str) -> bool {
    matches!(admins, [only] if only == user_id)
}

fn last_admin(username: &str) -> AppError {
    AppError::conflict(format!(
        "{username} is the only active administrator, and Dial always keeps one. \
         Make another user an administrator first."
    ))
}

/// Makes a user an administrator or an assistant owner. Refused when it would leave no
/// active administrator. The user's sessions stay open: every request reads the role
/// afresh ([`find_active`]), so the change applies to their next request.
pub async fn set_role(db: &Db, actor: &Actor, user_id: &str, role: &str) -> Result<(), AppError> {
    let role = Role::parse(role).ok_or_else(|| {
        AppError::invalid("role", "Choose a role: administrator or assistant owner.")
    })?;
    let mut tx = db.begin_write().await?;
    let admins = active_admins(&mut tx, db.backend).await?;
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT username, role FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((username, current)) = row else {
        return Err(AppError::not_found("That user"));
    };
    let current = Role::parse(&current).unwrap_or(Role::Owner);
    if current == role {
        return Ok(());
    }
    if role == Role::Owner && is_last_admin(&admins, user_id) {
        return Err(last_admin(&username));
    }
    sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "user.role_changed",
        Some(&username),
        Some(&format!("{} to {}", current.as_str(), role.as_str())),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A user's change of their own password, as typed.
pub struct PasswordChange {
    pub current: SecretString,
    pub new: SecretString,
    pub confirm: SecretString,
}

/// Changes the signed-in user's own password: the current one must be right (the attempt
/// is throttled like a sign-in, on the same keys), the new one follows the same rules as
/// everywhere else. The new hash, the end of every other session of the user (all but
/// `keep`, the one making the request) and the audit row commit together. Returns the
/// number of sessions ended.
pub async fn change_password(
    db: &Db,
    me: &Me,
    actor: &Actor,
    keep: Option<&tower_sessions::session::Id>,
    change: PasswordChange,
) -> Result<u64, AppError> {
    let mut errors = Vec::new();
    if change.current.expose_secret().is_empty() {
        errors.push(crate::error::FieldError::new(
            "current_password",
            "Enter your current password.",
        ));
    }
    if let Err(e) = validate::new_password(
        "password",
        change.new.expose_secret(),
        Some(change.confirm.expose_secret()),
    ) {
        errors.push(e);
    } else if change.new.expose_secret() == change.current.expose_secret() {
        errors.push(crate::error::FieldError::new(
            "password",
            "The new password is your current one. Choose a different password.",
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid { errors });
    }
    let Some(permit) = auth::password::try_permit() else {
        return Err(AppError::TooManyAttempts {
            retry_after_secs: 1,
        });
    };
    let keys = throttle_keys(&me.username, actor.ip.as_deref());
    if let Some(wait) = claim_attempt(db, actor, &me.username, &keys).await? {
        return Err(AppError::TooManyAttempts {
            retry_after_secs: wait,
        });
    }
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1 AND disabled = 0")
            .bind(&me.id)
            .fetch_optional(&db.pool)
            .await?;
    let Some(stored) = stored else {
        return Err(AppError::Unauthorized);
    };
    if !auth::password::verify_with(permit, change.current, Some(stored.clone())).await {
        audit::record(
            db,
            actor,
            "user.password_change_refused",
            Some(&me.username),
            Some("wrong current password"),
        )
        .await?;
        return Err(AppError::invalid(
            "current_password",
            "That is not your current password.",
        ));
    }
    release_attempt(db, &keys).await?;
    let hash = auth::password::hash(change.new).await?;
    let mut tx = db.begin_write().await?;
    // Only over the hash just verified: a reset by an administrator in between wins.
    let changed = sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 \
         WHERE id = $3 AND password_hash = $4 AND disabled = 0",
    )
    .bind(hash)
    .bind(now())
    .bind(&me.id)
    .bind(stored)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() != 1 {
        return Err(AppError::conflict(
            "Your password was changed elsewhere meanwhile. Reload the page and try again.",
        ));
    }
    let ended = auth::sessions::end_other_sessions_of(&mut *tx, &me.id, keep).await?;
    audit::record_on(
        &mut *tx,
        actor,
        "user.password_changed",
        Some(&me.username),
        Some(&format!("{ended} other session(s) ended")),
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// The wait after the `failures`-th claimed attempt on a key whose free attempts are
/// `limit`: none before the limit, then 30 s, 60 s, 2 min, … up to 15 min.
fn wait_after(failures: i64, limit: i64) -> i64 {
    if failures < limit {
        return 0;
    }
    let doublings = (failures - limit).min(16) as u32;
    FIRST_WAIT_SECS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_WAIT_SECS)
}

/// The throttle keys of one attempt, with their free attempts: the user name from this
/// address (so nobody elsewhere can lock a user out by typing wrong passwords), and the
/// address alone (one address guessing many names).
fn throttle_keys(name: &str, ip: Option<&str>) -> Vec<(String, i64)> {
    let ip = ip.unwrap_or("unknown");
    vec![
        (format!("user:{name}|ip:{ip}"), MAX_FAILURES_PER_USER),
        (format!("ip:{ip}"), MAX_FAILURES_PER_ADDRESS),
    ]
}

/// Claims an attempt before any password is hashed, in one write transaction: refused
/// (with the seconds to wait) while any key waits, otherwise counted as a failure on
/// every key at once, so concurrent attempts cannot outrun the limit (a success gives it
/// back). A refusal adds to the key's `refused` count; only the first refusal of a streak
/// is written to the audit log, so a flood cannot grow the log.
async fn claim_attempt(
    db: &Db,
    anonymous: &Actor,
    name: &str,
    keys: &[(String, i64)],
) -> Result<Option<u64>, AppError> {
    let mut tx = db.begin_write().await?;
    let at = now();
    // SQLite's write transaction already excludes every other claim; PostgreSQL locks the
    // rows (made first if new), always in the same order (user name, then address).
    let lock = match db.backend {
        super::db::Backend::Postgres => " FOR UPDATE",
        super::db::Backend::Sqlite => "",
    };
    let mut rows = Vec::with_capacity(keys.len());
    for (key, limit) in keys {
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, next_allowed_at, refused, updated_at) \
             VALUES ($1, 0, 0, 0, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(at)
        .execute(&mut *tx.tx)
        .await?;
        let row: Option<(i64, i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT failures, next_allowed_at, refused, updated_at FROM login_throttle WHERE key = $1{lock}"
        ))
        .bind(key)
        .fetch_optional(&mut *tx.tx)
        .await?;
        rows.push((key, *limit, row.unwrap_or((0, 0, 0, 0))));
    }
    let wait = rows
        .iter()
        .map(|(_, _, (_, next, _, _))| next - at)
        .max()
        .unwrap_or(0);
    if wait > 0 {
        let mut first_refusal = false;
        for (key, _, (_, next, refused, _)) in &rows {
            if *next > at {
                first_refusal |= *refused == 0;
                sqlx::query(
                    "UPDATE login_throttle SET refused = refused + 1, updated_at = $2 WHERE key = $1",
                )
                .bind(*key)
                .bind(at)
                .execute(&mut *tx.tx)
                .await?;
            }
        }
        if first_refusal {
            audit::record_on(
                &mut *tx.tx,
                anonymous,
                "login.throttled",
                Some(name),
                Some("further attempts are refused and counted, not logged one by one"),
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(Some(wait as u64));
    }
    for (key, limit, (failures, next, refused, updated)) in rows {
        let stale = updated < at - WINDOW_SECS && next <= at;
        let failures = if stale { 0 } else { failures } + 1;
        let detail =
            (refused > 0).then(|| format!("{refused} attempt(s) were refused while waiting"));
        if let Some(detail) = detail {
            audit::record_on(
                &mut *tx.tx,
                anonymous,
                "login.throttle_ended",
                Some(name),
                Some(&detail),
            )
            .await?;
        }
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, next_allowed_at, refused, updated_at) \
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
             next_allowed_at = excluded.next_allowed_at, refused = 0, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(failures)
        .bind(at + wait_after(failures, limit))
        .bind(at)
        .execute(&mut *tx.tx)
        .await?;
    }
    tx.commit().await?;
    Ok(None)
}

/// After a successful sign-in: the user name starts afresh from this address, and the
/// address gets back the attempt it was charged.
async fn release_attempt(db: &Db, keys: &[(String, i64)]) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    if let Some((pair, _)) = keys.first() {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(pair)
            .execute(&mut *tx.tx)
            .await?;
    }
    for (key, limit) in keys.iter().skip(1) {
        let failures: Option<i64> =
            sqlx::query_scalar("SELECT failures FROM login_throttle WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx.tx)
                .await?;
        if let Some(failures) = failures {
            let failures = (failures - 1).max(0);
            sqlx::query(
                "UPDATE login_throttle SET failures = $2, next_allowed_at = $3 WHERE key = $1",
            )
            .bind(key)
            .bind(failures)
            .bind(now() + wait_after(failures, *limit))
            .execute(&mut *tx.tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Forgets throttle rows untouched for a day.
pub async fn prune_login_throttle(db: &Db) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM login_throttle WHERE updated_at < $1 AND next_allowed_at < $2")
            .bind(now() - 86_400)
            .bind(now())
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected())
}

/// Checks the password. Attempts are throttled per user name and address and per address
/// ([`claim_attempt`]), and at most as many passwords are hashed at once as there are
/// cores (argon2 takes 19 MiB each): past that the answer is an immediate 429.
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
    if name.len() > 256 {
        return Err(AppError::invalid("username", "Wrong username or password."));
    }
    let Some(permit) = auth::password::try_permit() else {
        return Err(AppError::TooManyAttempts {
            retry_after_secs: 1,
        });
    };
    let keys = throttle_keys(&name, ip.as_deref());
    if let Some(wait) = claim_attempt(db, &anonymous, &name, &keys).await? {
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
    let ok = auth::password::verify_with(permit, password, stored).await;
    match row {
        Some((id, _, role, disabled)) if ok && disabled == 0 => {
            release_attempt(db, &keys).await?;
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

/// A one-time first-run code: 12 characters from an alphabet without look-alikes.
pub fn new_setup_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|i| {
            let c = ALPHABET[rng.gen_range(0..ALPHABET.len())] as char;
            if i > 0 && i % 4 == 0 {
                format!("-{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether `given` is the setup code (spaces, dashes and case ignored; constant time).
pub fn setup_code_matches(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    let norm = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(|b| b.is_ascii_alphanumeric())
            .map(|b| b.to_ascii_uppercase())
            .collect()
    };
    let (a, b) = (norm(expected), norm(given));
    a.len() == b.len() && bool::from(a.ct_eq(&b))
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
    super::logged(
        sqlx::query(
            "INSERT INTO app_state (key, value, updated_at) VALUES ('first_admin', $1, $2) \
         ON CONFLICT (key) DO NOTHING",
        )
        .bind(&user.username)
        .bind(now())
        .execute(&db.pool)
        .await,
        "marking first run done",
    );
    Ok(user)
}

#[cfg(test)]
mod throttle_tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_attempts_and_stop_at_fifteen_minutes() {
        let waits: Vec<i64> = (1..=12).map(|n| wait_after(n, 5)).collect();
        assert_eq!(waits, [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(wait_after(i64::MAX, 5), MAX_WAIT_SECS);
    }
}
