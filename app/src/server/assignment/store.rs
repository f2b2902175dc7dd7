//! The rows a run reads and writes: numbers, assistants, runs, steps, carriers.

use super::*;

// ---------------------------------------------------------------------------------------
// Rows

#[derive(sqlx::FromRow, Clone)]
pub(super) struct NumberFull {
    pub(super) id: String,
    #[sqlx(try_from = "String")]
    pub(super) e164: E164,
    pub(super) carrier_id: Option<String>,
    pub(super) twilio_sid: Option<String>,
    pub(super) owner_id: Option<String>,
    pub(super) assistant_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub(super) assignment_status: AssignmentStatus,
    pub(super) twilio_trunk_sid: Option<String>,
    pub(super) inbound_trunk_id: Option<String>,
    pub(super) outbound_trunk_id: Option<String>,
    pub(super) dispatch_rule_id: Option<String>,
}

pub(super) const NUMBER_COLUMNS: &str =
    "id, e164, country, carrier_id, twilio_sid, owner_id, assistant_id, \
     assignment_status, twilio_trunk_sid, inbound_trunk_id, outbound_trunk_id, dispatch_rule_id";

pub(super) async fn load_number(state: &AppState, id: &str) -> Result<NumberFull, AppError> {
    let row: Option<NumberFull> = sqlx::query_as(&format!(
        "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE id = $1 AND released_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.ok_or_else(|| AppError::not_found("That phone number"))
}

/// A number the user may change (others' numbers are "not found").
pub(super) async fn number_for(
    state: &AppState,
    me: &Me,
    id: &str,
) -> Result<NumberFull, AppError> {
    let number = load_number(state, id).await?;
    if !me.is_admin() && number.owner_id.as_deref() != Some(me.id.as_str()) {
        return Err(AppError::not_found("That phone number"));
    }
    Ok(number)
}

#[derive(sqlx::FromRow, Clone)]
pub(super) struct AssistantFull {
    pub(super) id: String,
    pub(super) owner_id: String,
    pub(super) name: String,
    pub(super) agent_name: String,
    pub(super) metadata: String,
    pub(super) room_prefix: String,
}

pub(super) async fn load_assistant(
    state: &AppState,
    id: &str,
) -> Result<Option<AssistantFull>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, owner_id, name, agent_name, metadata, room_prefix FROM assistants WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?)
}

#[derive(sqlx::FromRow, Clone)]
pub(super) struct RunRow {
    pub(super) id: String,
    pub(super) phone_number_id: String,
    #[sqlx(try_from = "String")]
    pub(super) kind: RunKind,
    pub(super) assistant_id: Option<String>,
    pub(super) previous_assistant_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub(super) status: RunStatus,
    pub(super) error: Option<String>,
    pub(super) actor_name: Option<String>,
    pub(super) started_at: i64,
    pub(super) finished_at: Option<i64>,
    pub(super) wall_ms: Option<i64>,
}

pub(super) const RUN_COLUMNS: &str =
    "id, phone_number_id, kind, assistant_id, previous_assistant_id, status, \
     error, actor_name, started_at, finished_at, wall_ms";

pub(super) async fn load_run(state: &AppState, id: &str) -> Result<Option<RunRow>, AppError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM provisioning_runs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?)
}

#[derive(sqlx::FromRow, Clone)]
pub(super) struct StepRow {
    pub(super) position: i64,
    #[sqlx(try_from = "String")]
    pub(super) name: StepName,
    #[sqlx(try_from = "String")]
    pub(super) status: StepStatus,
    pub(super) action: Option<String>,
    pub(super) intent: Option<String>,
    pub(super) provider_id: Option<String>,
    pub(super) data: Option<String>,
    pub(super) detail: Option<String>,
    pub(super) error: Option<String>,
}

impl StepRow {
    /// What the step did, once it did something.
    pub(super) fn action(&self) -> Option<StepAction> {
        self.action.as_deref().and_then(StepAction::parse)
    }
}

pub(super) async fn load_steps(state: &AppState, run_id: &str) -> Result<Vec<StepRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT position, name, status, action, intent, provider_id, data, detail, error \
         FROM provisioning_steps WHERE run_id = $1 ORDER BY position",
    )
    .bind(run_id)
    .fetch_all(&state.db.pool)
    .await?)
}

pub(super) struct Carrier {
    pub(super) sip_address: String,
    pub(super) transport: String,
    pub(super) auth_username: Option<String>,
    pub(super) auth_password: Option<SecretString>,
    pub(super) destination_country: Option<String>,
    pub(super) inbound_addresses: Vec<String>,
}

pub(super) async fn load_carrier(state: &AppState, id: &str) -> Result<Carrier, StepError> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT sip_address, transport, auth_username, auth_password, destination_country, \
         inbound_addresses FROM carriers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((sip_address, transport, auth_username, auth_password, country, addresses)) = row
    else {
        return Err("The number's carrier no longer exists.".into());
    };
    let auth_password = match auth_password {
        Some(stored) => Some(
            state
                .keyring
                .decrypt(
                    &stored,
                    Binding {
                        table: "carriers",
                        column: "auth_password",
                        row: id,
                    },
                )
                .map_err(|e| {
                    tracing::error!(error = %e, "could not decrypt a carrier password");
                    "Dial could not decrypt the carrier's password (see the server log)."
                        .to_string()
                })?,
        ),
        None => None,
    };
    Ok(Carrier {
        sip_address,
        transport,
        auth_username,
        auth_password,
        destination_country: country.filter(|c| !c.is_empty()),
        inbound_addresses: serde_json::from_str(&addresses).unwrap_or_default(),
    })
}
