//! The overview page's call statistics: today's calls by outcome and seven days of volume.
//! Days are UTC days; owners count their own calls only; test calls are left out.

use super::{now, state::AppState};
use crate::{
    error::AppError,
    model::{CallStats, DayCount, Me},
};

const DAY: i64 = 86_400;

/// Counts as of `at` (epoch seconds): today is the UTC day that contains it.
pub async fn call_stats_at(state: &AppState, me: &Me, at: i64) -> Result<CallStats, AppError> {
    let today_start = at.div_euclid(DAY) * DAY;
    let week_start = today_start - 6 * DAY;
    // $1: the owner (ignored when $2 = 1, an admin). Test calls ("Test inbound route")
    // are not counted.
    let owner = "(c.owner_id = $1 OR $2 = 1) AND c.is_test = 0";
    let admin = i64::from(me.is_admin());
    let (today, completed, no_answer, busy, declined, failed): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(&format!(
            "SELECT COUNT(*), \
             COUNT(CASE WHEN c.status = 'ended' AND (c.answered_at IS NOT NULL OR c.outcome = 'completed') THEN 1 END), \
             COUNT(CASE WHEN c.status = 'ended' AND c.answered_at IS NULL AND c.outcome = 'no_answer' THEN 1 END), \
             COUNT(CASE WHEN c.status = 'ended' AND c.answered_at IS NULL AND c.outcome = 'busy' THEN 1 END), \
             COUNT(CASE WHEN c.status = 'ended' AND c.answered_at IS NULL AND c.outcome IN ('declined', 'rejected') THEN 1 END), \
             COUNT(CASE WHEN c.status = 'ended' AND c.answered_at IS NULL \
                   AND c.outcome IN ('unreachable', 'trunk_auth_failed', 'failed') THEN 1 END) \
             FROM call_sessions c WHERE {owner} AND c.created_at >= $3 AND c.created_at < $4"
        ))
        .bind(&me.id)
        .bind(admin)
        .bind(today_start)
        .bind(today_start + DAY)
        .fetch_one(&state.db.pool)
        .await?;
    let live: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM call_sessions c WHERE {owner} AND c.status_rank < 3"
    ))
    .bind(&me.id)
    .bind(admin)
    .fetch_one(&state.db.pool)
    .await?;
    let per_day: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT c.created_at / {DAY} AS day, COUNT(*) FROM call_sessions c \
         WHERE {owner} AND c.created_at >= $3 AND c.created_at < $4 \
         GROUP BY c.created_at / {DAY}"
    ))
    .bind(&me.id)
    .bind(admin)
    .bind(week_start)
    .bind(today_start + DAY)
    .fetch_all(&state.db.pool)
    .await?;
    let days = (0..7)
        .map(|i| {
            let start = week_start + i * DAY;
            let day = start / DAY;
            let calls = per_day
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, n)| *n);
            let (date, weekday) = chrono::DateTime::from_timestamp(start, 0)
                .map(|t| (t.format("%Y-%m-%d").to_string(), t.format("%a").to_string()))
                .unwrap_or_default();
            DayCount {
                date,
                weekday,
                calls: count(calls),
            }
        })
        .collect();
    Ok(CallStats {
        today: count(today),
        completed: count(completed),
        no_answer: count(no_answer),
        busy: count(busy),
        declined: count(declined),
        failed: count(failed),
        live: count(live),
        days,
    })
}

/// Counts as of now.
pub async fn call_stats(state: &AppState, me: &Me) -> Result<CallStats, AppError> {
    call_stats_at(state, me, now()).await
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
