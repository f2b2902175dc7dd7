//! Assistants: list, create, change and delete (owners their own, admins all), and the
//! numbers each one answers.

use crate::{
    error::AppError,
    model::{Assistant, NumberRow},
};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "assistants/list")]
pub async fn list_assistants() -> Result<Vec<Assistant>, AppError> {
    use crate::server::{assistants, auth};
    let me = auth::require_user()?;
    assistants::list(&auth::state()?, &me).await
}

#[server(prefix = "/api", endpoint = "assistants/get")]
pub async fn get_assistant(id: String) -> Result<Assistant, AppError> {
    use crate::server::{assistants, auth};
    let me = auth::require_user()?;
    assistants::get(&auth::state()?, &me, &id).await
}

#[cfg(feature = "ssr")]
fn input(
    name: String,
    agent_name: String,
    metadata: Option<String>,
    room_prefix: Option<String>,
    description: Option<String>,
) -> crate::server::assistants::AssistantInput {
    crate::server::assistants::AssistantInput {
        name,
        agent_name,
        metadata: metadata.unwrap_or_default(),
        room_prefix: room_prefix.unwrap_or_default(),
        description: description.unwrap_or_default(),
    }
}

/// Creates an assistant (admins may choose its owner) and opens its page.
#[server(prefix = "/api", endpoint = "assistants/create")]
pub async fn create_assistant(
    name: String,
    agent_name: String,
    metadata: Option<String>,
    room_prefix: Option<String>,
    description: Option<String>,
    owner_id: Option<String>,
) -> Result<Assistant, AppError> {
    use crate::server::{assistants, auth};
    let me = auth::require_user()?;
    let fields = input(name, agent_name, metadata, room_prefix, description);
    let created = assistants::create(
        &auth::state()?,
        &me,
        &auth::actor(&me),
        &fields,
        owner_id.as_deref(),
    )
    .await?;
    leptos_axum::redirect(&format!("/dashboard/assistants/{}", created.id));
    Ok(created)
}

#[server(prefix = "/api", endpoint = "assistants/update")]
pub async fn update_assistant(
    id: String,
    name: String,
    agent_name: String,
    metadata: Option<String>,
    room_prefix: Option<String>,
    description: Option<String>,
) -> Result<Assistant, AppError> {
    use crate::server::assignment;
    use crate::server::{assistants, auth};
    let me = auth::require_user()?;
    let state = auth::state()?;
    let actor = auth::actor(&me);
    let fields = input(name, agent_name, metadata, room_prefix, description);
    let before = assistants::get(&state, &me, &id).await?;
    let after = assistants::update(&state, &me, &actor, &id, &fields).await?;
    // What the dispatch rules carry changed: update the rules of its numbers in place.
    let routed = |a: &Assistant| {
        (
            a.name.clone(),
            a.agent_name.clone(),
            a.metadata.clone(),
            a.room_prefix.clone(),
        )
    };
    if after.numbers > 0 && routed(&before) != routed(&after) {
        assignment::refresh_assistant(&state, &me, &actor, &id).await?;
    }
    Ok(after)
}

/// Deletes an assistant and goes back to the list, which confirms it. With `unassign` on, its numbers are
/// unassigned first (each as a provisioning run); a failure keeps the assistant.
#[server(prefix = "/api", endpoint = "assistants/delete")]
pub async fn delete_assistant(id: String, unassign: Option<String>) -> Result<(), AppError> {
    use crate::server::{assignment, assistants, auth, notice};
    let me = auth::require_user()?;
    let state = auth::state()?;
    let actor = auth::actor(&me);
    if unassign
        .as_deref()
        .is_some_and(|v| v == "on" || v == "true")
    {
        assistants::get(&state, &me, &id).await?;
        assignment::unassign_all(&state, &me, &actor, &id).await?;
    }
    let deleted = assistants::delete(&state, &me, &actor, &id).await?;
    notice::leave(
        &auth::session()?,
        &format!("Deleted assistant {}.", deleted.name),
    )
    .await?;
    leptos_axum::redirect("/dashboard/assistants");
    Ok(())
}

/// The live numbers the assistant answers.
#[server(prefix = "/api", endpoint = "assistants/numbers")]
pub async fn assistant_numbers(id: String) -> Result<Vec<NumberRow>, AppError> {
    use crate::server::{assistants, auth};
    let me = auth::require_user()?;
    assistants::numbers_of(&auth::state()?, &me, &id).await
}
