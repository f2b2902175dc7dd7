//! One way to read a filtered, sorted, paged list (numbers, calls, the audit log): a
//! [`Filter`] of conditions whose values are bound, never spliced into the SQL, and
//! [`paginate`], which counts the matches and reads one page.
//!
//! Not `sqlx::QueryBuilder`: through the `Any` driver it writes `?` placeholders
//! (`AnyArguments` keeps the trait's default), which PostgreSQL refuses; the filter numbers
//! its own `$1, $2, …`, which both databases accept.

use super::page_offset;
use crate::{error::AppError, model::Page};
use sqlx::{any::AnyRow, Any, FromRow};

/// A value a condition binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Null,
}

fn bind_all<'q, O>(
    mut query: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>>,
    values: &[Value],
) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>> {
    for value in values {
        query = match value {
            Value::Text(text) => query.bind(text.clone()),
            Value::Int(n) => query.bind(*n),
            Value::Null => query.bind(None::<String>),
        };
    }
    query
}

/// Conditions joined with AND. Each condition is SQL with `?` where its values go, in
/// order; the values are bound as parameters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    conditions: Vec<(String, Vec<Value>)>,
}

impl Filter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A condition with no values (`n.released_at IS NULL`).
    pub fn sql(&mut self, condition: &str) -> &mut Self {
        self.conditions.push((condition.to_string(), Vec::new()));
        self
    }

    /// A condition with one value per `?`.
    pub fn with(&mut self, condition: &str, values: Vec<Value>) -> &mut Self {
        self.conditions.push((condition.to_string(), values));
        self
    }

    /// `column = value`.
    pub fn eq(&mut self, column: &str, value: impl Into<String>) -> &mut Self {
        self.with(&format!("{column} = ?"), vec![Value::Text(value.into())])
    }

    /// ` WHERE …` (or nothing, without conditions) with `$1…` placeholders, and the
    /// values in placeholder order.
    fn render(&self) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut bound = Vec::new();
        for (i, (condition, values)) in self.conditions.iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            let mut values = values.iter();
            let mut parts = condition.split('?').peekable();
            while let Some(part) = parts.next() {
                sql.push_str(part);
                if parts.peek().is_some() {
                    // A `?` without a value binds NULL, which matches nothing.
                    bound.push(values.next().cloned().unwrap_or(Value::Null));
                    sql.push_str(&format!("${}", bound.len()));
                }
            }
        }
        (sql, bound)
    }
}

/// What a page reads: `select` is everything before the filter (`SELECT … FROM … JOIN …`),
/// `count` the same rows counted (`SELECT COUNT(*) FROM …`), `order` the sort with a
/// tie-breaker, so pages are stable.
pub struct ListQuery<'a> {
    pub select: &'a str,
    pub count: &'a str,
    pub order: &'a str,
    pub per_page: u32,
}

/// The page `page` (from 1; refused past `MAX_PAGE`) of the rows `filter` keeps, with the
/// total.
pub async fn paginate<R>(
    pool: &sqlx::Pool<Any>,
    list: &ListQuery<'_>,
    filter: &Filter,
    page: Option<u32>,
) -> Result<Page<R>, AppError>
where
    R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    let (page, offset) = page_offset(page, list.per_page)?;
    let (filter, values) = filter.render();

    let count_sql = format!("{}{filter}", list.count);
    let (total,): (i64,) = bind_all(sqlx::query_as(&count_sql), &values)
        .fetch_one(pool)
        .await?;

    let n = values.len();
    let page_sql = format!(
        "{}{filter} ORDER BY {} LIMIT ${} OFFSET ${}",
        list.select,
        list.order,
        n + 1,
        n + 2
    );
    let items = bind_all(sqlx::query_as::<_, R>(&page_sql), &values)
        .bind(i64::from(list.per_page))
        .bind(offset)
        .fetch_all(pool)
        .await?;
    Ok(Page {
        items,
        page,
        per_page: list.per_page,
        total: total.max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_bind_their_values_in_order() {
        let mut filter = Filter::new();
        filter
            .sql("n.released_at IS NULL")
            .eq("n.owner_id", "u1")
            .with(
                "(n.label LIKE ? OR n.e164 LIKE ?)",
                vec![Value::Text("%a%".into()), Value::Text("%1%".into())],
            );
        let (sql, values) = filter.render();
        assert_eq!(
            sql,
            " WHERE n.released_at IS NULL AND n.owner_id = $1 \
             AND (n.label LIKE $2 OR n.e164 LIKE $3)"
        );
        assert_eq!(
            values,
            [
                Value::Text("u1".into()),
                Value::Text("%a%".into()),
                Value::Text("%1%".into())
            ]
        );
    }

    #[test]
    fn no_conditions_no_where() {
        assert_eq!(Filter::new().render(), (String::new(), Vec::new()));
    }
}
