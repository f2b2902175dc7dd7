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
        ..Page::default()
    })
}

/// What a key of a sort holds: a cursor carries one, and refuses the other kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Text,
    Int,
}

/// A keyset sort: a key that is never NULL (an expression, `COALESCE`d where the column
/// may be empty) and a unique tie-breaker, both in one direction, so that "after this
/// row" is one row-value comparison an index on `(key, id)` serves at any depth.
pub struct Sort<'a> {
    /// Written into cursors, so a cursor of one sort is refused by another.
    pub name: &'a str,
    pub key: &'a str,
    pub key_kind: KeyKind,
    pub id: &'a str,
    pub id_kind: KeyKind,
    pub descending: bool,
}

/// The furthest a list counts: past it, a page says "more than 10,000" (counting a
/// million calls would cost more than reading any page of them).
pub const COUNT_CAP: i64 = 10_000;

/// Longest cursor accepted (a label's key is at most a few hundred bytes).
const MAX_CURSOR: usize = 4096;

/// A position in a sorted list: the key and id of a row, and the sort they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub sort: String,
    pub key: Value,
    pub id: Value,
}

fn value_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Text(t) => serde_json::Value::from(t.as_str()),
        Value::Int(n) => serde_json::Value::from(*n),
        Value::Null => serde_json::Value::Null,
    }
}

fn json_value(json: &serde_json::Value, kind: KeyKind) -> Option<Value> {
    match (kind, json) {
        (KeyKind::Text, serde_json::Value::String(t)) if !t.contains('\0') => {
            Some(Value::Text(t.clone()))
        }
        (KeyKind::Int, serde_json::Value::Number(n)) => n.as_i64().map(Value::Int),
        _ => None,
    }
}

impl Cursor {
    /// URL-safe text (base64 of a small JSON array): opaque to clients.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::json!([self.sort, value_json(&self.key), value_json(&self.id)]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// The cursor `text` holds for `sort`; `None` for anything else (malformed, another
    /// sort's, a key of the wrong kind). It comes from a URL: never trusted, never panics.
    pub fn decode(text: &str, sort: &Sort<'_>) -> Option<Cursor> {
        use base64::Engine;
        if text.len() > MAX_CURSOR {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()?;
        let (name, key, id): (String, serde_json::Value, serde_json::Value) =
            serde_json::from_slice(&bytes).ok()?;
        if name != sort.name {
            return None;
        }
        Some(Cursor {
            sort: name,
            key: json_value(&key, sort.key_kind)?,
            id: json_value(&id, sort.id_kind)?,
        })
    }
}

/// Where a page starts: the first page, a legacy page number (an OFFSET, kept for API
/// clients that page by number), or a cursor either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    Page(u32),
    After(Cursor),
    Before(Cursor),
}

impl Position {
    /// The position a request's `after`, `before` and `page` values name; a cursor that
    /// does not belong to `sort` is a 422 naming its parameter.
    pub fn from_query(
        sort: &Sort<'_>,
        after: Option<&str>,
        before: Option<&str>,
        page: Option<u32>,
    ) -> Result<Position, AppError> {
        let refuse = |field: &str| {
            AppError::invalid(
                field,
                "This cursor is not one of this list's (it may belong to another sort order): start again from the first page.",
            )
        };
        if let Some(text) = after.filter(|t| !t.is_empty()) {
            return Cursor::decode(text, sort)
                .map(Position::After)
                .ok_or_else(|| refuse("after"));
        }
        if let Some(text) = before.filter(|t| !t.is_empty()) {
            return Cursor::decode(text, sort)
                .map(Position::Before)
                .ok_or_else(|| refuse("before"));
        }
        Ok(Position::Page(page.unwrap_or(1).max(1)))
    }
}

/// What a keyset page reads: `select` is `SELECT … FROM … JOIN …` (the sort's key and id
/// are added to its columns), `from` the rows counted (`FROM table alias`).
pub struct KeysetQuery<'a> {
    pub select: &'a str,
    pub from: &'a str,
    pub sort: Sort<'a>,
    pub per_page: u32,
}

/// One page at `position` of the rows `filter` keeps, with cursors to the pages either
/// side and the count of matches (up to [`COUNT_CAP`]). `label` is the page number to
/// report for a cursor's page (the caller carries it in its links; 0 when unknown).
pub async fn keyset<R>(
    pool: &sqlx::Pool<Any>,
    list: &KeysetQuery<'_>,
    filter: &Filter,
    position: &Position,
    label: Option<u32>,
) -> Result<Page<R>, AppError>
where
    R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    use sqlx::Row;
    let sort = &list.sort;
    let (count_filter, count_values) = filter.render();
    let count_sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 {}{count_filter} LIMIT {}) counted",
        list.from,
        COUNT_CAP + 1
    );
    let (counted,): (i64,) = bind_all(sqlx::query_as(&count_sql), &count_values)
        .fetch_one(pool)
        .await?;

    let descending = sort.descending;
    let mut filter = filter.clone();
    let mut offset = 0i64;
    let mut page_number = label.unwrap_or(0).min(super::MAX_PAGE);
    // Reading backwards (the page before a cursor) turns the order and the comparison.
    let backwards = matches!(position, Position::Before(_));
    let row_value = format!("({}, {})", sort.key, sort.id);
    match position {
        Position::Page(page) => {
            let (page, skip) = super::page_offset(Some(*page), list.per_page)?;
            offset = skip;
            page_number = page;
        }
        Position::After(cursor) => {
            let op = if descending { "<" } else { ">" };
            filter.with(
                &format!("{row_value} {op} (?, ?)"),
                vec![cursor.key.clone(), cursor.id.clone()],
            );
        }
        Position::Before(cursor) => {
            let op = if descending { ">" } else { "<" };
            filter.with(
                &format!("{row_value} {op} (?, ?)"),
                vec![cursor.key.clone(), cursor.id.clone()],
            );
        }
    }
    let dir = if descending != backwards {
        "DESC"
    } else {
        "ASC"
    };
    let (filter_sql, values) = filter.render();
    let n = values.len();
    // The key and id go after the list's own columns (a row read by position keeps its
    // positions): before the first ` FROM `, which the columns never hold.
    let Some((columns, from)) = list.select.split_once(" FROM ") else {
        tracing::error!(select = list.select, "a keyset list's query has no FROM");
        return Err(AppError::Internal);
    };
    let page_sql = format!(
        "{columns}, {} AS sort_key, {} AS sort_id FROM {from}{filter_sql} ORDER BY {} {dir}, {} {dir} LIMIT ${} OFFSET ${}",
        sort.key,
        sort.id,
        sort.key,
        sort.id,
        n + 1,
        n + 2
    );
    let mut query = sqlx::query(&page_sql);
    for value in &values {
        query = match value {
            Value::Text(text) => query.bind(text.clone()),
            Value::Int(n) => query.bind(*n),
            Value::Null => query.bind(None::<String>),
        };
    }
    let mut rows = query
        .bind(i64::from(list.per_page) + 1)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    let more = rows.len() > list.per_page as usize;
    rows.truncate(list.per_page as usize);
    if backwards {
        rows.reverse();
    }
    let read = |row: &AnyRow, column: &str, kind: KeyKind| -> Result<Value, sqlx::Error> {
        Ok(match kind {
            KeyKind::Text => Value::Text(row.try_get::<String, _>(column)?),
            KeyKind::Int => Value::Int(row.try_get::<i64, _>(column)?),
        })
    };
    let cursor_of = |row: &AnyRow| -> Result<String, sqlx::Error> {
        Ok(Cursor {
            sort: sort.name.to_string(),
            key: read(row, "sort_key", sort.key_kind)?,
            id: read(row, "sort_id", sort.id_kind)?,
        }
        .encode())
    };
    // Rows before this page: a cursor's page came from one (or, read backwards, there is
    // one more); a numbered page past the first has them.
    let has_prev = match position {
        Position::Page(_) => offset > 0,
        Position::After(_) => true,
        Position::Before(_) => more,
    };
    let has_next = match position {
        Position::Before(_) => true,
        _ => more,
    };
    let prev = match rows.first() {
        Some(row) if has_prev => Some(cursor_of(row)?),
        _ => None,
    };
    let next = match rows.last() {
        Some(row) if has_next => Some(cursor_of(row)?),
        _ => None,
    };
    if !has_prev {
        page_number = 1;
    }
    let items = rows
        .iter()
        .map(R::from_row)
        .collect::<Result<Vec<R>, _>>()?;
    Ok(Page {
        items,
        page: page_number,
        per_page: list.per_page,
        total: counted.clamp(0, COUNT_CAP) as u64,
        total_more: counted > COUNT_CAP,
        next,
        prev,
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

    const LABEL: Sort<'static> = Sort {
        name: "label.asc",
        key: "LOWER(n.label)",
        key_kind: KeyKind::Text,
        id: "n.id",
        id_kind: KeyKind::Text,
        descending: false,
    };

    const CREATED: Sort<'static> = Sort {
        name: "created.desc",
        key: "c.created_at",
        key_kind: KeyKind::Int,
        id: "c.id",
        id_kind: KeyKind::Text,
        descending: true,
    };

    #[test]
    fn a_cursor_reads_back_as_written() {
        let cursor = Cursor {
            sort: "label.asc".into(),
            key: Value::Text("line 7 & \"more\" ünïcode".into()),
            id: Value::Text("0a1b".into()),
        };
        let text = cursor.encode();
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(&text, &LABEL), Some(cursor));
    }

    #[test]
    fn a_cursor_of_another_sort_or_kind_is_refused() {
        let label = Cursor {
            sort: "label.asc".into(),
            key: Value::Text("a".into()),
            id: Value::Text("x".into()),
        }
        .encode();
        assert_eq!(Cursor::decode(&label, &CREATED), None);
        // The right name with a text where a number belongs.
        let wrong_kind = Cursor {
            sort: "created.desc".into(),
            key: Value::Text("1700000000".into()),
            id: Value::Text("x".into()),
        }
        .encode();
        assert_eq!(Cursor::decode(&wrong_kind, &CREATED), None);
        for junk in [
            "",
            "!!!",
            "bm90IGpzb24",
            "W10",
            "WzEsMiwzXQ",
            &"A".repeat(5000),
        ] {
            assert_eq!(Cursor::decode(junk, &CREATED), None, "{junk}");
        }
    }

    #[test]
    fn a_bad_cursor_in_a_request_is_a_422_naming_it() {
        let error = Position::from_query(&CREATED, Some("nonsense"), None, None).unwrap_err();
        assert!(matches!(error, AppError::Invalid { ref errors } if errors[0].field == "after"));
        let error = Position::from_query(&CREATED, None, Some("nonsense"), None).unwrap_err();
        assert!(matches!(error, AppError::Invalid { ref errors } if errors[0].field == "before"));
        assert_eq!(
            Position::from_query(&CREATED, Some(""), None, Some(3)).unwrap(),
            Position::Page(3)
        );
    }

    proptest::proptest! {
        // The cursor comes from a URL: any text is refused or read, never a panic.
        #[test]
        fn any_text_decodes_without_panicking(text in "\\PC{0,200}") {
            let _ = Cursor::decode(&text, &LABEL);
            let _ = Cursor::decode(&text, &CREATED);
        }

        #[test]
        fn any_bytes_behind_base64_decode_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            use base64::Engine;
            let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
            let _ = Cursor::decode(&text, &LABEL);
            let _ = Cursor::decode(&text, &CREATED);
        }

        #[test]
        fn every_key_round_trips(key in "\\PC{0,100}", id in "[0-9a-f-]{1,36}", at in proptest::num::i64::ANY) {
            let text = Cursor { sort: "label.asc".into(), key: Value::Text(key.clone()), id: Value::Text(id.clone()) }.encode();
            let read = Cursor::decode(&text, &LABEL);
            if key.contains('\0') {
                proptest::prop_assert_eq!(read, None);
            } else {
                proptest::prop_assert_eq!(read.map(|c| c.key), Some(Value::Text(key)));
            }
            let text = Cursor { sort: "created.desc".into(), key: Value::Int(at), id: Value::Text(id) }.encode();
            proptest::prop_assert_eq!(Cursor::decode(&text, &CREATED).map(|c| c.key), Some(Value::Int(at)));
        }
    }
}
