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
/// reads go through a memory map. No connection folds the WAL back into the database in
/// its own commit (`wal_autocheckpoint = 0`): a checkpoint writes the pages back and
/// waits for the disk twice (`fsync`), tens of milliseconds that every request waiting on
/// that writer would wait too. A thread of its own does it instead (see [`Checkpointer`]).
pub const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
     PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 0;";

/// How often the checkpointer looks at the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The WAL size (pages of 4 KB: 40 MB) past which the checkpointer makes the writers pause
/// while it catches up, so the next write starts the WAL over.
const WAL_RESTART_PAGES: i64 = 10_000;

/// Folds a SQLite database's WAL back into it, on a thread of its own, while the writers
/// keep writing: every [`CHECKPOINT_EVERY`] a passive checkpoint copies what was committed
/// (and syncs the database file) without holding up any writer. Under a steady stream of
/// writes a passive checkpoint never quite catches up, and the WAL only starts over once
/// it has (SQLite `wal.c`, `walRestartLog`), so past [`WAL_RESTART_PAGES`] the checkpointer
/// takes the process's writer lane for one more passive checkpoint, which then copies only
/// what was written since the previous one. The thread stops when the last clone of the
/// [`Db`] is dropped.
#[derive(Debug)]
struct Checkpointer {
    /// Dropped with the last `Db`: the thread then stops.
    _stop: std::sync::mpsc::Sender<()>,
}

impl Checkpointer {
    fn start(path: std::path::PathBuf, lane: Arc<tokio::sync::Mutex<()>>) -> Option<Checkpointer> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let started = std::thread::Builder::new()
            .name("dial-checkpoint".into())
            .spawn(move || {
                let mut conn: Option<rusqlite::Connection> = None;
                let mut last = (0, 0);
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    let c = match &conn {
                        Some(c) => c,
                        None => match open_checkpointer(&path) {
                            Ok(c) => conn.insert(c),
                            Err(e) => {
                                tracing::warn!(error = %e, "the SQLite checkpointer could not open the database");
                                continue;
                            }
                        },
                    };
                    match checkpoint(c, &lane, last) {
                        Ok(now) => last = now,
                        Err(e) => {
                            tracing::warn!(error = %e, "a SQLite checkpoint failed");
                            conn = None;
                        }
                    }
                }
            });
        match started {
            Ok(_) => Some(Checkpointer { _stop: stop }),
            Err(e) => {
                tracing::error!(error = %e, "could not start the SQLite checkpointer");
                None
            }
        }
    }
}

fn open_checkpointer(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(SQLITE_PRAGMAS)?;
    Ok(conn)
}

/// One passive checkpoint: the WAL's size and how much of it is in the database, in pages.
fn passive(conn: &rusqlite::Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

/// One round of the checkpointer (see [`Checkpointer`]); `last` is what the previous
/// round left.
fn checkpoint(
    conn: &rusqlite::Connection,
    lane: &tokio::sync::Mutex<()>,
    last: (i64, i64),
) -> rusqlite::Result<(i64, i64)> {
    let now = passive(conn)?;
    // A WAL that grew since the last round, past the limit: nothing is written while the
    // last pages are copied, so the next write starts it over. (Idle, it has not grown.)
    if now.0 >= WAL_RESTART_PAGES && now != last {
        let _lane = lane.blocking_lock();
        return passive(conn);
    }
    Ok(now)
}

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
    /// SQLite on a file: folds the WAL back (stops with the last clone).
    _checkpointer: Option<Arc<Checkpointer>>,
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
        let writer = Arc::new(tokio::sync::Mutex::new(()));
        let checkpointer = sqlite_path
            .clone()
            .and_then(|path| Checkpointer::start(path, writer.clone()))
            .map(Arc::new);
        Ok(Db {
            pool,
            backend,
            writer,
            sqlite_path,
            _checkpointer: checkpointer,
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
