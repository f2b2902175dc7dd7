//! The audit log: who did what, when, from which address. Never a secret.

use super::{db::Db, now};
use crate::{
    error::AppError,
    model::{AuditEntry, Page},
};

/// Who acted: a signed-in user, or nobody (a failed login, a CLI command).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn system(label: &str) -> Self {
        Actor {
            user_id: None,
            username: Some(label.to_string()),
            ip: None,
        }
    }
}

pub async fn record(
    db: &Db,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), AppError> {
    insert(&db.pool, actor, action, target, None, detail).await
}

/// [`record`] on a given executor: a transaction, so the audit row commits (or not) with
/// the change it records.
pub async fn record_on<'e, E>(
    executor: E,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), AppError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    insert(executor, actor, action, target, None, detail).await
}

/// [`record`] for a row of a provisioning run: the run's id is stored with it (and named
/// at the start of the detail, as before), so the log shows the run's rows together.
pub async fn record_run(
    db: &Db,
    run_id: &str,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), AppError> {
    insert(&db.pool, actor, action, target, Some(run_id), detail).await
}

/// [`record_run`] on a given executor (a transaction).
pub async fn record_run_on<'e, E>(
    executor: E,
    run_id: &str,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), AppError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    insert(executor, actor, action, target, Some(run_id), detail).await
}

async fn insert<'e, E>(
    executor: E,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    run_id: Option<&str>,
    detail: Option<&str>,
) -> Result<(), AppError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_name, action, target, detail, ip, run_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now())
    .bind(actor.user_id.clone())
    .bind(actor.username.clone())
    .bind(action)
    .bind(target.map(str::to_string))
    .bind(detail.map(str::to_string))
    .bind(actor.ip.clone())
    .bind(run_id.map(str::to_string))
    .execute(executor)
    .await?;
    Ok(())
}

pub const PER_PAGE: u32 = 50;

#[derive(sqlx::FromRow, Clone)]
struct AuditRow {
    id: i64,
    at: i64,
    actor_name: Option<String>,
    action: String,
    target: Option<String>,
    detail: Option<String>,
    ip: Option<String>,
    run_id: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor_name,
            action: r.action,
            target: r.target,
            detail: r.detail,
            ip: r.ip,
            run_id: r.run_id,
            steps: Vec::new(),
        }
    }
}

/// A row that reports one step of a run rather than the run as a whole.
pub fn is_step(action: &str) -> bool {
    matches!(
        action,
        "provisioning.step" | "provisioning.step_failed" | "provisioning.step_rolled_back"
    )
}

/// Newest first, a provisioning run as one entry: its latest row that is not a step (its
/// outcome, or its start while it runs), with the run's other rows, oldest first, in
/// `steps`. Pages count these entries, so a run never straddles two pages; a run sorts
/// by its newest row, so a retried run comes back to the top.
pub async fn list(
    db: &Db,
    page: u32,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Page<AuditEntry>, AppError> {
    use super::list::{keyset, Filter, KeyKind, KeysetQuery, Position, Sort};
    // An entry's head is a row without a run or its run's newest row (an index lookup in
    // `audit_run`); heads walk the primary key from any cursor.
    let mut filter = Filter::new();
    filter.sql(
        "(a.run_id IS NULL OR a.id = (SELECT MAX(r.id) FROM audit_log r WHERE r.run_id = a.run_id))",
    );
    let list = KeysetQuery {
        select: "SELECT a.id AS newest, a.run_id FROM audit_log a",
        from: "FROM audit_log a",
        sort: Sort {
            name: "id.desc",
            key: "a.id",
            key_kind: KeyKind::Int,
            id: "a.id",
            id_kind: KeyKind::Int,
            descending: true,
        },
        per_page: PER_PAGE,
    };
    let position = Position::from_query(&list.sort, after, before, Some(page))?;
    let heads: Page<(i64, Option<String>)> =
        keyset(&db.pool, &list, &filter, &position, Some(page)).await?;
    let cursors = (
        heads.page,
        heads.total,
        heads.total_more,
        heads.next,
        heads.prev,
    );
    let heads = heads.items;
    // Every row of this page's groups in one read: the runs' rows and the single rows.
    let runs: Vec<&str> = heads.iter().filter_map(|(_, r)| r.as_deref()).collect();
    let singles: Vec<i64> = heads
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(id, _)| *id)
        .collect();
    let list = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rows: Vec<AuditRow> = Vec::new();
    if !heads.is_empty() {
        // An empty list would be `IN ()`: NULL matches nothing and is valid SQL.
        let (run_list, single_list) = (
            if runs.is_empty() {
                "NULL".into()
            } else {
                list(1, runs.len())
            },
            if singles.is_empty() {
                "NULL".into()
            } else {
                list(runs.len() + 1, singles.len())
            },
        );
        let sql = format!(
            "SELECT id, at, actor_name, action, target, detail, ip, run_id FROM audit_log \
             WHERE run_id IN ({run_list}) OR (run_id IS NULL AND id IN ({single_list})) ORDER BY id"
        );
        let mut query = sqlx::query_as::<_, AuditRow>(&sql);
        for r in &runs {
            query = query.bind(r.to_string());
        }
        for id in &singles {
            query = query.bind(*id);
        }
        rows = query.fetch_all(&db.pool).await?;
    }
    let (run_rows, mut single_rows): (Vec<AuditRow>, Vec<AuditRow>) =
        rows.into_iter().partition(|r| r.run_id.is_some());
    let mut items = Vec::with_capacity(heads.len());
    for (newest, run) in heads {
        match run {
            None => {
                if let Some(i) = single_rows.iter().position(|r| r.id == newest) {
                    items.push(single_rows.swap_remove(i).into());
                }
            }
            Some(run) => {
                let rows: Vec<AuditEntry> = run_rows
                    .iter()
                    .filter(|r| r.run_id.as_deref() == Some(run.as_str()))
                    .cloned()
                    .map(AuditEntry::from)
                    .collect();
                if let Some(entry) = group_run(rows) {
                    items.push(entry);
                }
            }
        }
    }
    let (page, total, total_more, next, prev) = cursors;
    Ok(Page {
        items,
        page,
        per_page: PER_PAGE,
        total,
        total_more,
        next,
        prev,
    })
}

/// One entry for a run's rows (oldest first): the latest row that is not a step heads it
/// (the latest row when all are steps), the others go beneath it, oldest first.
pub fn group_run(mut rows: Vec<AuditEntry>) -> Option<AuditEntry> {
    let head = rows
        .iter()
        .rposition(|r| !is_step(&r.action))
        .or_else(|| rows.len().checked_sub(1))?;
    let mut entry = rows.remove(head);
    entry.steps = rows;
    Some(entry)
}
