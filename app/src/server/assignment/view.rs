//! Reading runs for the pages: a run with its steps, and a number's routing.

use super::*;

// ---------------------------------------------------------------------------------------
// Reading

pub(super) async fn run_view(state: &AppState, run: RunRow) -> Result<RunView, AppError> {
    let steps = load_steps(state, &run.id).await?;
    let name_of = |id: Option<String>| async move {
        match id {
            Some(id) => {
                sqlx::query_scalar::<_, String>("SELECT name FROM assistants WHERE id = $1")
                    .bind(&id)
                    .fetch_optional(&state.db.pool)
                    .await
                    .ok()
                    .flatten()
                    .or(Some("(deleted assistant)".into()))
            }
            None => None,
        }
    };
    let assistant = name_of(run.assistant_id.clone()).await;
    let previous = name_of(run.previous_assistant_id.clone()).await;
    let e164 = number_e164(state, &run.phone_number_id).await?;
    Ok(RunView {
        steps: steps
            .into_iter()
            .map(|s| StepView {
                position: s.position,
                title: step_title(run.kind, s.name),
                action: s.action(),
                name: s.name,
                status: s.status,
                provider_id: s.provider_id,
                detail: s.detail,
                error: s.error,
            })
            .collect(),
        id: run.id,
        number_id: run.phone_number_id,
        e164,
        kind: run.kind,
        assistant_id: run.assistant_id,
        assistant,
        previous_assistant: previous,
        status: run.status,
        error: run.error,
        actor: run.actor_name,
        started_at: run.started_at,
        finished_at: run.finished_at,
        wall_ms: run.wall_ms,
    })
}

/// One run, for the user allowed to see its number.
pub async fn get_run(state: &AppState, me: &Me, run_id: &str) -> Result<RunView, AppError> {
    let run = run_for(state, me, run_id).await?;
    run_view(state, run).await
}

/// The number's routing, its current run and its provisioning history.
pub async fn routing(state: &AppState, me: &Me, number_id: &str) -> Result<Routing, AppError> {
    let full = number_for(state, me, number_id).await?;
    let number = crate::server::numbers::get(state, me, number_id).await?;
    let runs: Vec<RunRow> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM provisioning_runs WHERE phone_number_id = $1 ORDER BY started_ms DESC LIMIT 20"
    ))
    .bind(number_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut views = Vec::new();
    for run in runs {
        views.push(run_view(state, run).await?);
    }
    // The open run if there is one, else the latest.
    let current_index = views
        .iter()
        .position(RunView::is_open)
        .or(if views.is_empty() { None } else { Some(0) });
    let current = current_index.map(|i| views.remove(i));
    let last_route_check: Option<String> =
        sqlx::query_scalar("SELECT last_route_check FROM phone_numbers WHERE id = $1")
            .bind(number_id)
            .fetch_one(&state.db.pool)
            .await?;
    let last_route_check = last_route_check.and_then(|j| serde_json::from_str(&j).ok());
    let owner = full.owner_id.clone();
    // An unallotted number may go to anyone's assistant (admins only): the picker then
    // names each assistant's owner (`assistant_labels`).
    const ASSISTANTS: &str = "SELECT a.id, a.name, COALESCE(u.username, '') FROM assistants a \
         LEFT JOIN users u ON u.id = a.owner_id";
    let assistants: Vec<(String, String, String)> = match (me.is_admin(), owner) {
        (_, Some(owner)) => {
            sqlx::query_as(&format!(
                "{ASSISTANTS} WHERE a.owner_id = $1 ORDER BY LOWER(a.name), a.id"
            ))
            .bind(owner)
            .fetch_all(&state.db.pool)
            .await?
        }
        (true, None) => {
            sqlx::query_as(&format!(
                "{ASSISTANTS} ORDER BY LOWER(a.name), u.username, a.id"
            ))
            .fetch_all(&state.db.pool)
            .await?
        }
        (false, None) => Vec::new(),
    };
    let labels = crate::model::assistant_labels(
        assistants
            .iter()
            .map(|(_, name, owner)| (name.as_str(), owner.as_str())),
    );
    let transfer_block = block_for_number(state, number_id, me.is_admin()).await?;
    Ok(Routing {
        transfer_block,
        number,
        twilio_trunk_sid: full.twilio_trunk_sid,
        inbound_trunk_id: full.inbound_trunk_id,
        outbound_trunk_id: full.outbound_trunk_id,
        dispatch_rule_id: full.dispatch_rule_id,
        current,
        history: views,
        assistants: assistants
            .into_iter()
            .zip(labels)
            .map(|((id, _, _), name)| AssistantOption { id, name })
            .collect(),
        last_route_check,
    })
}
