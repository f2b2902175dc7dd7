//! Assistants: the LiveKit agent Dial dispatches for calls to and from a number, with the
//! metadata the agent receives and the prefix of each call's room. Owners create, change
//! and delete their own assistants (others' are "not found"); admins see and change all.
//!
//! Giving numbers to an assistant is the provisioning engine's job
//! (`crate::server::assignment`); here an assistant that still answers numbers cannot
//! be deleted.

use super::{
    audit::{self, Actor},
    db::is_unique_violation,
    new_id, now,
    state::AppState,
};
use crate::{
    error::{AppError, FieldError},
    model::{Assistant, Me, NumberRow},
};

const NAME_MAX: usize = 64;
const AGENT_NAME_MAX: usize = 64;
const ROOM_PREFIX_MAX: usize = 32;
const DESCRIPTION_MAX: usize = 500;
const METADATA_MAX_BYTES: usize = 16 * 1024;
pub const DEFAULT_ROOM_PREFIX: &str = "call-";

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// The agent's name as registered with LiveKit (`agent_name` in its worker options):
/// 1–64 ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentName(String);

impl AgentName {
    pub fn parse(field: &str, input: &str) -> Result<AgentName, FieldError> {
        let name = input.trim();
        let valid = !name.is_empty()
            && name.len() <= AGENT_NAME_MAX
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.chars().all(is_name_char);
        if valid {
            Ok(AgentName(name.to_string()))
        } else if name.is_empty() {
            Err(FieldError::new(
                field,
                "Enter the agent's name as registered with LiveKit (agent_name in WorkerOptions).",
            ))
        } else {
            Err(FieldError::new(
                field,
                "Use the agent's name as registered with LiveKit (agent_name in WorkerOptions): \
                 letters, digits, - _ . \u{2014} up to 64 characters, starting with a letter or digit.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The prefix of the room LiveKit creates for each call: 1–32 ASCII letters, digits,
/// `-`, `_` and `.`; empty means [`DEFAULT_ROOM_PREFIX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPrefix(String);

impl RoomPrefix {
    pub fn parse(field: &str, input: &str) -> Result<RoomPrefix, FieldError> {
        let prefix = input.trim();
        if prefix.is_empty() {
            return Ok(RoomPrefix(DEFAULT_ROOM_PREFIX.to_string()));
        }
        if prefix.len() <= ROOM_PREFIX_MAX && prefix.chars().all(is_name_char) {
            Ok(RoomPrefix(prefix.to_string()))
        } else {
            Err(FieldError::new(
                field,
                "A room prefix is up to 32 letters, digits, - _ or . (for example \u{201c}call-\u{201d}).",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The agent's job metadata: a JSON object, kept exactly as typed (trimmed) so its
/// formatting survives; empty means `{}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMetadata(String);

impl AgentMetadata {
    pub fn parse(field: &str, input: &str) -> Result<AgentMetadata, FieldError> {
        let text = input.trim();
        if text.is_empty() {
            return Ok(AgentMetadata("{}".to_string()));
        }
        if text.len() > METADATA_MAX_BYTES {
            return Err(FieldError::new(
                field,
                format!(
                    "Metadata is at most 16 KiB; this is {:.1} KiB. Keep large data elsewhere and pass a reference.",
                    text.len() as f64 / 1024.0
                ),
            ));
        }
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| FieldError::new(field, format!("Metadata is not valid JSON: {e}.")))?;
        let kind = match value {
            serde_json::Value::Object(_) => return Ok(AgentMetadata(text.to_string())),
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Bool(_) => "true or false",
            serde_json::Value::Null => "null",
        };
        Err(FieldError::new(
            field,
            format!("Metadata must be a JSON object ({{ \u{2026} }}), not {kind}."),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the assistant form sends.
#[derive(Debug, Clone, Default)]
pub struct AssistantInput {
    pub name: String,
    pub agent_name: String,
    pub metadata: String,
    pub room_prefix: String,
    pub description: String,
}

/// An assistant's fields once every one of them parsed.
#[derive(Debug, Clone)]
pub struct AssistantFields {
    pub name: String,
    pub agent_name: AgentName,
    pub metadata: AgentMetadata,
    pub room_prefix: RoomPrefix,
    pub description: String,
}

impl AssistantFields {
    /// Parses every field and reports every problem at once, each next to its field.
    pub fn parse(input: &AssistantInput) -> Result<AssistantFields, AppError> {
        let mut errors = Vec::new();
        let name = input.name.trim();
        if name.is_empty() {
            errors.push(FieldError::new("name", "Give the assistant a name."));
        } else if name.chars().count() > NAME_MAX {
            errors.push(FieldError::new(
                "name",
                format!("A name is at most {NAME_MAX} characters."),
            ));
        }
        let description = input.description.trim();
        if description.chars().count() > DESCRIPTION_MAX {
            errors.push(FieldError::new(
                "description",
                format!("A description is at most {DESCRIPTION_MAX} characters."),
            ));
        }
        let agent_name = AgentName::parse("agent_name", &input.agent_name)
            .map_err(|e| errors.push(e))
            .ok();
        let metadata = AgentMetadata::parse("metadata", &input.metadata)
            .map_err(|e| errors.push(e))
            .ok();
        let room_prefix = RoomPrefix::parse("room_prefix", &input.room_prefix)
            .map_err(|e| errors.push(e))
            .ok();
        match (agent_name, metadata, room_prefix) {
            (Some(agent_name), Some(metadata), Some(room_prefix)) if errors.is_empty() => {
                Ok(AssistantFields {
                    name: name.to_string(),
                    agent_name,
                    metadata,
                    room_prefix,
                    description: description.to_string(),
                })
            }
            _ => Err(AppError::Invalid { errors }),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    owner_id: String,
    owner: Option<String>,
    name: String,
    agent_name: String,
    metadata: String,
    room_prefix: String,
    description: String,
    numbers: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for Assistant {
    fn from(r: Row) -> Self {
        Assistant {
            id: r.id,
            owner_id: r.owner_id,
            owner: r.owner.unwrap_or_default(),
            name: r.name,
            agent_name: r.agent_name,
            metadata: r.metadata,
            room_prefix: r.room_prefix,
            description: r.description,
            numbers: u32::try_from(r.numbers.max(0)).unwrap_or(u32::MAX),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT a.id, a.owner_id, u.username AS owner, a.name, a.agent_name, a.metadata, \
     a.room_prefix, a.description, \
     (SELECT COUNT(*) FROM phone_numbers n WHERE n.assistant_id = a.id AND n.released_at IS NULL) AS numbers, \
     a.created_at, a.updated_at \
     FROM assistants a LEFT JOIN users u ON u.id = a.owner_id";

const NOT_FOUND: &str = "That assistant";

/// The assistants the user may see: their own, or all for admins; by name.
pub async fn list(state: &AppState, me: &Me) -> Result<Vec<Assistant>, AppError> {
    let rows: Vec<Row> = if me.is_admin() {
        sqlx::query_as(&format!(
            "{SELECT} ORDER BY LOWER(a.name), u.username, a.id"
        ))
        .fetch_all(&state.db.pool)
        .await?
    } else {
        sqlx::query_as(&format!(
            "{SELECT} WHERE a.owner_id = $1 ORDER BY LOWER(a.name), a.id"
        ))
        .bind(&me.id)
        .fetch_all(&state.db.pool)
        .await?
    };
    Ok(rows.into_iter().map(Assistant::from).collect())
}

/// One assistant the user may see (others' assistants are "not found", never forbidden,
/// so their existence is not revealed).
pub async fn get(state: &AppState, me: &Me, id: &str) -> Result<Assistant, AppError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    match row {
        Some(row) if me.is_admin() || row.owner_id == me.id => Ok(row.into()),
        _ => Err(AppError::not_found(NOT_FOUND)),
    }
}

fn duplicate(me: &Me, owner_id: &str, owner: &str, name: &str, typed: &str) -> AppError {
    let who = if owner_id == me.id {
        "You already have".to_string()
    } else {
        format!("{owner} already has")
    };
    let case = if name == typed {
        ""
    } else {
        " (names that differ only in capitals count as the same)"
    };
    AppError::invalid(
        "name",
        format!("{who} an assistant called \u{201c}{name}\u{201d}{case}. Choose another name."),
    )
}

/// The name of another assistant of the owner that `name` would duplicate: names are
/// compared without regard to case (Unicode lowercase; `name` is already trimmed), so two
/// assistants of one owner can always be told apart. Read inside the write transaction;
/// the unique index on `(owner_id, LOWER(name))` (migration 0010) backs it.
async fn clashing_name(
    tx: &mut sqlx::AnyConnection,
    owner_id: &str,
    name: &str,
    except_id: Option<&str>,
) -> Result<Option<String>, AppError> {
    let names: Vec<(String, String)> =
        sqlx::query_as("SELECT id, name FROM assistants WHERE owner_id = $1")
            .bind(owner_id)
            .fetch_all(&mut *tx)
            .await?;
    let wanted = name.to_lowercase();
    Ok(names
        .into_iter()
        .find(|(id, other)| Some(id.as_str()) != except_id && other.trim().to_lowercase() == wanted)
        .map(|(_, other)| other))
}

/// The owner of a new assistant: the creator, or (for admins) the active user they chose.
async fn owner_of_new(
    state: &AppState,
    me: &Me,
    owner_id: Option<&str>,
) -> Result<(String, String), AppError> {
    match owner_id.map(str::trim).filter(|o| !o.is_empty()) {
        Some(o) if o != me.id => {
            if !me.is_admin() {
                return Err(AppError::Forbidden);
            }
            let name: Option<String> =
                sqlx::query_scalar("SELECT username FROM users WHERE id = $1 AND disabled = 0")
                    .bind(o)
                    .fetch_optional(&state.db.pool)
                    .await?;
            let name = name.ok_or_else(|| {
                AppError::invalid("owner_id", "Choose an active user as the owner.")
            })?;
            Ok((o.to_string(), name))
        }
        _ => Ok((me.id.clone(), me.username.clone())),
    }
}

/// Creates an assistant for the user, or (admins) for the owner they chose.
pub async fn create(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    input: &AssistantInput,
    owner_id: Option<&str>,
) -> Result<Assistant, AppError> {
    let fields = AssistantFields::parse(input)?;
    let (owner_id, owner) = owner_of_new(state, me, owner_id).await?;
    let id = new_id();
    let mut tx = state.db.begin_write().await?;
    if let Some(taken) = clashing_name(&mut tx, &owner_id, &fields.name, None).await? {
        return Err(duplicate(me, &owner_id, &owner, &taken, &fields.name));
    }
    let result = sqlx::query(
        "INSERT INTO assistants (id, owner_id, name, agent_name, metadata, room_prefix, description, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(&owner_id)
    .bind(&fields.name)
    .bind(fields.agent_name.as_str())
    .bind(fields.metadata.as_str())
    .bind(fields.room_prefix.as_str())
    .bind(&fields.description)
    .bind(now())
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(duplicate(me, &owner_id, &owner, &fields.name, &fields.name))
        }
        Err(e) => return Err(e.into()),
    }
    let mut detail = format!("agent {}", fields.agent_name.as_str());
    if owner_id != me.id {
        detail.push_str(&format!("; owner {owner}"));
    }
    audit::record_on(
        &mut *tx,
        actor,
        "assistant.create",
        Some(&fields.name),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    get(state, me, &id).await
}

/// Changes an assistant's name, agent, metadata, room prefix and description.
pub async fn update(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
    input: &AssistantInput,
) -> Result<Assistant, AppError> {
    let before = get(state, me, id).await?;
    let fields = AssistantFields::parse(input)?;
    let mut tx = state.db.begin_write().await?;
    if let Some(taken) = clashing_name(&mut tx, &before.owner_id, &fields.name, Some(id)).await? {
        return Err(duplicate(
            me,
            &before.owner_id,
            &before.owner,
            &taken,
            &fields.name,
        ));
    }
    let result = sqlx::query(
        "UPDATE assistants SET name = $1, agent_name = $2, metadata = $3, room_prefix = $4, \
         description = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(&fields.name)
    .bind(fields.agent_name.as_str())
    .bind(fields.metadata.as_str())
    .bind(fields.room_prefix.as_str())
    .bind(&fields.description)
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await;
    match result {
        Ok(done) if done.rows_affected() == 0 => return Err(AppError::not_found(NOT_FOUND)),
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(duplicate(
                me,
                &before.owner_id,
                &before.owner,
                &fields.name,
                &fields.name,
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let changed: Vec<&str> = [
        ("name", before.name != fields.name),
        (
            "agent_name",
            before.agent_name != fields.agent_name.as_str(),
        ),
        ("metadata", before.metadata != fields.metadata.as_str()),
        (
            "room_prefix",
            before.room_prefix != fields.room_prefix.as_str(),
        ),
        ("description", before.description != fields.description),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect();
    let detail = if changed.is_empty() {
        "no changes".to_string()
    } else if before.name != fields.name {
        format!(
            "changed {}; was \u{201c}{}\u{201d}",
            changed.join(", "),
            before.name
        )
    } else {
        format!("changed {}", changed.join(", "))
    };
    audit::record_on(
        &mut *tx,
        actor,
        "assistant.update",
        Some(&fields.name),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    get(state, me, id).await
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Deletes an assistant that answers no number. An assistant with live numbers, or with a
/// provisioning run still open for one of them, is refused with what to do instead.
/// Returns the assistant as it was.
pub async fn delete(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
) -> Result<Assistant, AppError> {
    let assistant = get(state, me, id).await?;
    // One statement, so a number assigned between a check and the delete cannot be
    // left pointing at a deleted assistant.
    let mut tx = state.db.begin_write().await?;
    let deleted = sqlx::query(
        "DELETE FROM assistants WHERE id = $1 \
         AND NOT EXISTS (SELECT 1 FROM phone_numbers WHERE assistant_id = $1 AND released_at IS NULL) \
         AND NOT EXISTS (SELECT 1 FROM provisioning_runs WHERE (assistant_id = $1 OR previous_assistant_id = $1) \
                         AND status IN ('running', 'failed', 'rolling_back'))",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if deleted == 0 {
        drop(tx);
        return Err(refusal(state, id, &assistant.name).await?);
    }
    {
        audit::record_on(
            &mut *tx,
            actor,
            "assistant.delete",
            Some(&assistant.name),
            Some(&format!("agent {}", assistant.agent_name)),
        )
        .await?;
        tx.commit().await?;
        Ok(assistant)
    }
}

/// Why a delete did nothing.
async fn refusal(state: &AppState, id: &str, name: &str) -> Result<AppError, AppError> {
    let numbers: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM phone_numbers WHERE assistant_id = $1 AND released_at IS NULL",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    if numbers > 0 {
        return Ok(AppError::conflict(format!(
            "{name} answers {}. Unassign them first (on each number's page), then delete the assistant.",
            plural(numbers, "number", "numbers")
        )));
    }
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM provisioning_runs WHERE (assistant_id = $1 OR previous_assistant_id = $1) \
         AND status IN ('running', 'failed', 'rolling_back')",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    if open > 0 {
        return Ok(AppError::conflict(format!(
            "{name} has {} not finished. Let it finish, or retry or roll it back on the number's page, then delete the assistant.",
            plural(open, "provisioning run", "provisioning runs")
        )));
    }
    // Deleted by someone else in the meantime.
    Ok(AppError::not_found(NOT_FOUND))
}

/// The live numbers an assistant the user may see answers, by number.
pub async fn numbers_of(
    state: &AppState,
    me: &Me,
    assistant_id: &str,
) -> Result<Vec<NumberRow>, AppError> {
    let assistant = get(state, me, assistant_id).await?;
    let rows: Vec<super::numbers::Row> = sqlx::query_as(&format!(
        "{} WHERE n.assistant_id = $1 AND n.released_at IS NULL ORDER BY n.e164",
        super::numbers::SELECT
    ))
    .bind(&assistant.id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(NumberRow::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, agent: &str, metadata: &str, prefix: &str) -> AssistantInput {
        AssistantInput {
            name: name.into(),
            agent_name: agent.into(),
            metadata: metadata.into(),
            room_prefix: prefix.into(),
            description: String::new(),
        }
    }

    #[test]
    fn agent_names_follow_livekit() {
        assert_eq!(
            AgentName::parse("f", " support-agent_v2.1 ")
                .unwrap()
                .as_str(),
            "support-agent_v2.1"
        );
        assert!(AgentName::parse("f", "9lives").is_ok());
        for bad in [
            "",
            "-agent",
            ".agent",
            "_agent",
            "my agent",
            "agént",
            &"a".repeat(65),
        ] {
            let e = AgentName::parse("agent_name", bad).unwrap_err();
            assert_eq!(e.field, "agent_name", "{bad:?}");
            assert!(e.message.contains("agent_name in WorkerOptions"), "{bad:?}");
        }
        assert!(AgentName::parse("f", &"a".repeat(64)).is_ok());
    }

    #[test]
    fn room_prefixes_default_and_are_checked() {
        assert_eq!(RoomPrefix::parse("f", "  ").unwrap().as_str(), "call-");
        assert_eq!(
            RoomPrefix::parse("f", "support.").unwrap().as_str(),
            "support."
        );
        assert!(RoomPrefix::parse("f", "call /").is_err());
        assert!(RoomPrefix::parse("f", &"p".repeat(33)).is_err());
    }

    #[test]
    fn metadata_is_a_json_object_kept_as_typed() {
        assert_eq!(AgentMetadata::parse("f", "").unwrap().as_str(), "{}");
        let typed = "{\n  \"language\": \"en\"\n}";
        assert_eq!(
            AgentMetadata::parse("f", &format!("  {typed}\n"))
                .unwrap()
                .as_str(),
            typed
        );
        let e = AgentMetadata::parse("metadata", "{\n  \"a\": 1\n  \"b\": 2\n}").unwrap_err();
        assert_eq!(e.field, "metadata");
        assert!(
            e.message.starts_with("Metadata is not valid JSON:"),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 3 column 3"), "{}", e.message);
        assert!(AgentMetadata::parse("f", "[1, 2]")
            .unwrap_err()
            .message
            .ends_with("not an array."));
        assert!(AgentMetadata::parse("f", "\"text\"")
            .unwrap_err()
            .message
            .contains("not a string"));
        let big = format!("{{\"x\": \"{}\"}}", "a".repeat(METADATA_MAX_BYTES));
        assert!(AgentMetadata::parse("f", &big)
            .unwrap_err()
            .message
            .contains("16 KiB"));
    }

    #[test]
    fn every_field_error_is_reported_at_once() {
        let err = AssistantFields::parse(&input("  ", "bad name", "[]", "a b")).unwrap_err();
        for field in ["name", "agent_name", "metadata", "room_prefix"] {
            assert!(err.field(field).is_some(), "{field}");
        }
        let long = AssistantInput {
            description: "d".repeat(501),
            ..input(&"n".repeat(65), "agent", "", "")
        };
        let err = AssistantFields::parse(&long).unwrap_err();
        assert!(err.field("name").unwrap().contains("64"));
        assert!(err.field("description").unwrap().contains("500"));
        let ok = AssistantFields::parse(&input(" Front desk ", "agent", "", "")).unwrap();
        assert_eq!(ok.name, "Front desk");
        assert_eq!(ok.room_prefix.as_str(), "call-");
        assert_eq!(ok.metadata.as_str(), "{}");
    }
}
