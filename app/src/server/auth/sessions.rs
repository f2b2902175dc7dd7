//! A tower-sessions store over the same database as everything else (SQLite or
//! PostgreSQL). The signed-in user's id is copied into its own column so that
//! disabling a user or resetting a password ends that user's sessions at once (and
//! changing one's own password ends all but the one it was changed from).
//!
//! Rows are keyed by the SHA-256 of the session id, never the id itself: the cookie is the
//! only place the id exists, so a copy of the database (a backup, a stolen file) holds
//! nothing that signs anyone in.

use crate::server::db::Db;
use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    SessionStore,
};

/// Session keys.
pub const USER_ID: &str = "user_id";
pub const AUTH_AT: &str = "auth_at";
/// When the session last pushed its idle expiry forward.
pub const SEEN_AT: &str = "seen_at";

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        DbSessionStore { db }
    }
}

/// The key a session is stored under: the hex SHA-256 of the id the cookie carries.
fn stored_id(id: &Id) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(id.to_string().as_bytes()))
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn user_of(record: &Record) -> Option<String> {
    record
        .data
        .get(USER_ID)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Reads a value kept in the session and removes it, so it is read once. Only a value
/// that is there is removed: tower-sessions marks a session changed on every removal,
/// present or not, and a changed session is written back to the database at the end of
/// the request. Pages that look for a one-time value on every render (the confirmation
/// banner, a stashed API key) would otherwise write the session on every page view.
pub async fn take<T: serde::de::DeserializeOwned>(
    session: &tower_sessions::Session,
    key: &str,
) -> Result<Option<T>, tower_sessions::session::Error> {
    let Some(value) = session.get::<T>(key).await? else {
        return Ok(None);
    };
    session.remove_value(key).await?;
    Ok(Some(value))
}

/// Ends every session of one user.
pub async fn end_sessions_of<'e, E>(executor: E, user_id: &str) -> Result<u64, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(done.rows_affected())
}

/// Ends every session of one user but `keep` (the session making the request, when it is
/// stored), so a password change signs the user out everywhere else.
pub async fn end_other_sessions_of<'e, E>(
    executor: E,
    user_id: &str,
    keep: Option<&Id>,
) -> Result<u64, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let Some(keep) = keep else {
        return end_sessions_of(executor, user_id).await;
    };
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(stored_id(keep))
        .execute(executor)
        .await?;
    Ok(done.rows_affected())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let data = serde_json::to_string(&record.data).map_err(backend)?;
            let result = sqlx::query(
                "INSERT INTO sessions (id, user_id, data, expiry) VALUES ($1, $2, $3, $4)",
            )
            .bind(stored_id(&record.id))
            .bind(user_of(record))
            .bind(data)
            .bind(record.expiry_date.unix_timestamp())
            .execute(&self.db.pool)
            .await;
            match result {
                Ok(_) => return Ok(()),
                Err(e) if crate::server::db::is_unique_violation(&e) => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data).map_err(backend)?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, data, expiry) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, data = excluded.data, \
             expiry = excluded.expiry",
        )
        .bind(stored_id(&record.id))
        .bind(user_of(record))
        .bind(data)
        .bind(record.expiry_date.unix_timestamp())
        .execute(&self.db.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT data, expiry FROM sessions WHERE id = $1 AND expiry > $2")
                .bind(stored_id(id))
                .bind(OffsetDateTime::now_utc().unix_timestamp())
                .fetch_optional(&self.db.pool)
                .await
                .map_err(backend)?;
        let Some((data, expiry)) = row else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data).map_err(backend)?,
            expiry_date: OffsetDateTime::from_unix_timestamp(expiry).map_err(backend)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(stored_id(id))
            .execute(&self.db.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expiry <= $1")
            .bind(OffsetDateTime::now_utc().unix_timestamp())
            .execute(&self.db.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
