//! Query parameters: each list route's table says what it takes, and the same table both
//! documents the parameters (their OpenAPI schemas) and checks a request's values, so the
//! two cannot drift.

use super::*;

/// One query parameter of a route (all are optional).
pub struct QueryParam {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: QueryKind,
}

/// What a parameter's value may be.
pub enum QueryKind {
    /// Any text.
    Text,
    /// A page number: a whole number from 1.
    Page,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A day, YYYY-MM-DD.
    Date,
}

impl QueryKind {
    pub fn schema(&self) -> Value {
        match self {
            QueryKind::Text => json!({ "type": "string" }),
            QueryKind::Page => json!({ "type": "integer", "minimum": 1, "maximum": u32::MAX }),
            QueryKind::OneOf(words) => json!({ "type": "string", "enum": words }),
            QueryKind::Date => json!({ "type": "string", "format": "date" }),
        }
    }

    /// Why `value` is not one of these, in words (None: it is).
    fn refuse(&self, value: &str) -> Option<String> {
        match self {
            // PostgreSQL cannot hold a NUL; SQLite could, but the answer is the same.
            QueryKind::Text => value
                .contains('\0')
                .then(|| "Text may not contain the NUL character (\\0).".to_string()),
            QueryKind::Page => match value.parse::<u32>() {
                Ok(n) if n >= 1 => None,
                _ => Some("The page is a whole number from 1.".into()),
            },
            QueryKind::OneOf(words) => {
                (!words.contains(&value)).then(|| format!("Use one of: {}.", words.join(", ")))
            }
            QueryKind::Date => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .is_err()
                .then(|| "Enter a date as YYYY-MM-DD.".to_string()),
        }
    }
}

/// A request's query parameters, checked against a route's table: an unknown name or a
/// value its kind refuses is a 422 naming the parameter. Empty text counts as absent.
pub struct Checked(Vec<(&'static str, String)>);

impl Checked {
    pub fn parse(
        params: &'static [QueryParam],
        pairs: Result<
            axum::extract::Query<Vec<(String, String)>>,
            axum::extract::rejection::QueryRejection,
        >,
    ) -> Result<Checked, AppError> {
        let axum::extract::Query(pairs) = pairs.map_err(|e| AppError::Request {
            message: e.body_text(),
        })?;
        let mut values = Vec::new();
        for (key, value) in pairs {
            let Some(param) = params.iter().find(|p| p.name == key) else {
                let names: Vec<&str> = params.iter().map(|p| p.name).collect();
                return Err(AppError::invalid(
                    &key,
                    format!("Unknown query parameter: use {}.", names.join(", ")),
                ));
            };
            // Empty text is no filter; any other kind wants a value.
            if value.is_empty() && matches!(param.kind, QueryKind::Text) {
                continue;
            }
            if let Some(message) = param.kind.refuse(&value) {
                return Err(AppError::invalid(param.name, message));
            }
            values.push((param.name, value));
        }
        Ok(Checked(values))
    }

    /// The value of `name`, if the request gave one.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// The page number (checked already).
    pub fn page(&self) -> Option<u32> {
        self.get("page").and_then(|p| p.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &[QueryParam] = &[
        QueryParam {
            name: "direction",
            description: "",
            kind: QueryKind::OneOf(&["inbound", "outbound"]),
        },
        QueryParam {
            name: "page",
            description: "",
            kind: QueryKind::Page,
        },
        QueryParam {
            name: "date",
            description: "",
            kind: QueryKind::Date,
        },
        QueryParam {
            name: "number",
            description: "",
            kind: QueryKind::Text,
        },
    ];

    fn check(pairs: &[(&str, &str)]) -> Result<Checked, AppError> {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Checked::parse(PARAMS, Ok(axum::extract::Query(pairs)))
    }

    fn refused_field(pairs: &[(&str, &str)]) -> Option<String> {
        match check(pairs) {
            Err(AppError::Invalid { errors }) => errors.first().map(|e| e.field.clone()),
            _ => None,
        }
    }

    #[test]
    fn values_are_checked_by_their_kind() {
        let ok = check(&[
            ("direction", "inbound"),
            ("page", "2"),
            ("date", "2026-11-28"),
        ])
        .expect("valid");
        assert_eq!(ok.get("direction").as_deref(), Some("inbound"));
        assert_eq!(ok.page(), Some(2));
        assert_eq!(
            refused_field(&[("direction", "")]).as_deref(),
            Some("direction"),
            "only text may be empty"
        );
        for (pairs, field) in [
            (&[("direction", "sideways")][..], "direction"),
            (&[("page", "0")][..], "page"),
            (&[("page", "K")][..], "page"),
            (&[("page", "4294967296")][..], "page"),
            (&[("date", "2026-13-01")][..], "date"),
            (&[("colour", "red")][..], "colour"),
            (&[("number", "a\0b")][..], "number"),
        ] {
            assert_eq!(refused_field(pairs).as_deref(), Some(field), "{pairs:?}");
        }
    }

    #[test]
    fn the_schema_says_what_is_checked() {
        assert_eq!(QueryKind::Page.schema()["minimum"], 1);
        assert_eq!(
            QueryKind::OneOf(&["a", "b"]).schema()["enum"],
            json!(["a", "b"])
        );
    }
}
