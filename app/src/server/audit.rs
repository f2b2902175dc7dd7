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
    record_on(&db.pool, actor, action, target, detail).await
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
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_name, action, target, detail, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(now())
    .bind(actor.user_id.clone())
    .bind(actor.username.clone())
    .bind(action)
    .bind(target.map(str::to_string))
    .bind(detail.map(str::to_string))
    .bind(actor.ip.clone())
    .execute(executor)
    .await?;
    Ok(())
}

pub const PER_PAGE: u32 = 50;

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor_name: Option<String>,
    action: String,
    target: Option<String>,
    detail: Option<String>,
    ip: Option<String>,
}

/// Newest first.
pub async fn list(db: &Db, page: u32) -> Result<Page<AuditEntry>, AppError> {
    use super::list::{paginate, Filter, ListQuery};
    let list = ListQuery {
        select: "SELECT id, at, actor_name, action, target, detail, ip FROM audit_log",
        count: "SELECT COUNT(*) FROM audit_log",
        order: "id DESC",
        per_page: PER_PAGE,
    };
    let rows: Page<AuditRow> = paginate(&db.pool, &list, &Filter::new(), Some(page)).await?;
    Ok(Page {
        items: rows
            .items
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                actor: r.actor_name,
                action: r.action,
                target: r.target,
                detail: r.detail,
                ip: r.ip,
            })
            .collect(),
        page: rows.page,
        per_page: rows.per_page,
        total: rows.total,
    })
}
