//! The store: one `AnyPool` over SQLite or PostgreSQL, chosen by the URL scheme.
//! SQL is written once with `$n` placeholders and portable types (BIGINT epoch
//! seconds, TEXT ids, INTEGER 0/1 booleans); each backend has its own migrations folder.

use sqlx::{
    any::{install_default_drivers, AnyPoolOptions},
    migrate::Migrator,
    AnyPool, Executor,
};
use std::{sync::Arc, time::Duration};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Every SQLite connection's settings. WAL lets readers work while one writer writes;
/// reads go through a memory map; the WAL is folded back every 10,000 pages (40 MB), not
/// every 1,000, so a busy writer checkpoints (and waits for the disk) ten times less often.
pub const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
     PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 10000;";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite has one writer at a time; writers queue here instead of in SQLite's busy
    /// handler, which sleeps in steps of milliseconds.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// The SQLite file, for a writer that opens a connection of its own.
    pub sqlite_path: Option<std::path::PathBuf>,
}

/// A read-then-write transaction from [`Db::begin_write`] (or [`Db::begin_write_on`] a
/// connection the caller holds); on SQLite it holds the process's writer lane until it is
/// committed or dropped.
pub struct WriteTx<'c> {
    pub tx: sqlx::Transaction<'c, sqlx::Any>,
    _lane: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// A `WriteTx` is used like the transaction it holds: `&mut *tx` is its connection.
impl std::ops::Deref for WriteTx<'_> {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl WriteTx<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got {0:?})")]
    Scheme(String),
    #[error("could not create or restrict the database file {path}: {err}")]
    Files { path: String, err: std::io::Error },
    #[error("could not open the database: {0}")]
    Connect(sqlx::Error),
    #[error("could not apply migrations: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

impl Db {
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::Scheme(
                url.split(':').next().unwrap_or("").to_string(),
            ));
        };
        let mut options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .after_release(|conn, _meta| Box::pin(release_clean(conn)));
        options = match backend {
            Backend::Sqlite => options.max_connections(8).after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            }),
            // No statement runs for more than 30 s, and a session left idle inside a
            // transaction (a client that went away mid-way) is ended by the server after
            // 60 s, whatever happens to the pool.
            Backend::Postgres => options.max_connections(16).after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "SET statement_timeout = '30s'; SET idle_in_transaction_session_timeout = '60s'",
                    )
                    .await?;
                    Ok(())
                })
            }),
        };
        let sqlite_path = match backend {
            Backend::Sqlite => url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .and_then(|rest| rest.split('?').next())
                .filter(|path| !path.is_empty() && !path.starts_with(":memory:"))
                .map(std::path::PathBuf::from),
            Backend::Postgres => None,
        };
        if let Some(path) = &sqlite_path {
            // Sessions, password hashes and calls: readable by Dial's user only.
            super::files::prepare_sqlite_file(path).map_err(|e| DbError::Files {
                path: path.display().to_string(),
                err: e,
            })?;
        }
        let pool = options.connect(url).await.map_err(DbError::Connect)?;
        Ok(Db {
            pool,
            backend,
            writer: Arc::new(tokio::sync::Mutex::new(())),
            sqlite_path,
        })
    }

    /// A transaction that reads and then writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that read first cannot upgrade while
    /// another connection writes, and fails with "database is locked" instead of waiting.
    pub async fn begin_write(&self) -> Result<WriteTx<'static>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let lane = self.writer.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _lane: Some(lane),
                })
            }
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _lane: None,
            }),
        }
    }

    /// The process's SQLite writer lane (nothing on PostgreSQL), for a writer that runs
    /// its transaction on a connection outside the pool.
    pub async fn lane(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// [`Db::begin_write`] on a connection the caller keeps (a busy writer keeps its page
    /// cache warm and skips the pool's checks).
    pub async fn begin_write_on<'c>(
        &self,
        conn: &'c mut sqlx::AnyConnection,
    ) -> Result<WriteTx<'c>, sqlx::Error> {
        use sqlx::Connection;
        match self.backend {
            Backend::Sqlite => {
                let lane = self.writer.clone().lock_owned().await;
                let tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _lane: Some(lane),
                })
            }
            Backend::Postgres => Ok(WriteTx {
                tx: conn.begin().await?,
                _lane: None,
            }),
        }
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(DbError::Migrate)
    }

    /// Cheap round trip for /healthz.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

/// Decides, as a connection goes back to the pool, whether it may be reused: only when it
/// is outside any transaction.
///
/// A future can be dropped at any await (a client hung up, a time-out fired, a `select!`
/// took the other branch). If it held a transaction, sqlx queues the rollback
/// (`Transaction::drop`) and its release ping runs it. But on SQLite, a future dropped
/// while `BEGIN IMMEDIATE` was being acknowledged leaves no `Transaction` at all, so
/// nothing is queued: the connection would go back to the pool inside a transaction that
/// holds the database's write lock, and every other writer would fail with "database is
/// locked" (the next `BEGIN` on it with "non-zero transaction depth") until a restart.
///
/// So a released connection that says it is in a transaction is flushed here (`ping` runs
/// whatever was queued; SQLite's worker takes commands in order), and if it still is, it is
/// closed rather than reused: closing ends the transaction and frees its lock at once.
/// (PostgreSQL's `begin` cleans up after itself when dropped, and its depth reads 0 once a
/// rollback is queued, so there the check costs nothing.)
async fn release_clean(conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!(
            "a connection came back to the pool inside an abandoned transaction; closed it"
        );
        return Ok(false);
    }
    Ok(true)
}

/// True when the error is a unique-constraint violation (both backends).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}
