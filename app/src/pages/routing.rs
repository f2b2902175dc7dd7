//! Routing profiles (admin).

use crate::{
    components::{
        action_outcome, field_error, successes, AdminOnly, ErrorBanner, Field, Loading, PageHeader,
    },
    error::AppError,
    functions::routing::{
        routing_profiles, CreateRoutingProfile, DeleteRoutingProfile, UpdateRoutingProfile,
    },
    model::RoutingProfile,
};
use leptos::{form::ActionForm, html, prelude::*};
use leptos_meta::Title;

#[component]
pub fn RoutingProfilesPage() -> impl IntoView {
    view! {
        <Title text="Routing profiles"/>
        <AdminOnly><RoutingProfiles/></AdminOnly>
    }
}

#[component]
fn RoutingProfiles() -> impl IntoView {
    let create = ServerAction::<CreateRoutingProfile>::new();
    let update = ServerAction::<UpdateRoutingProfile>::new();
    let delete = ServerAction::<DeleteRoutingProfile>::new();
    let created = successes(create.value());
    let updated = successes(update.value());
    let deleted = successes(delete.value());
    let profiles = Resource::new(
        move || (created.get(), updated.get(), deleted.get()),
        |_| routing_profiles(),
    );
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if created.get() > 0 {
            if let Some(f) = form.get() {
                f.reset();
            }
        }
    });
    let value = create.value();
    view! {
        <PageHeader title="Routing profiles" subtitle="Plans, countries and trunk references to organise numbers by."/>
        <div class="banner banner-info" role="note">
            "Routing profiles are organisational metadata: they do not change how calls are routed. Calls follow the number's assistant."
        </div>
        <section class="card" aria-labelledby="new-profile">
            <h2 id="new-profile">"Add a routing profile"</h2>
            {action_outcome(value, "Routing profile created.")}
            <ActionForm action=create node_ref=form>
                <ProfileFields profile=None errors=value/>
                <button class="button button-primary" type="submit">"Create profile"</button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="all-profiles">
            <h2 id="all-profiles">"All profiles"</h2>
            {action_outcome(update.value(), "Routing profile saved.")}
            {move || delete.value().get().map(|r| match r {
                Ok(n) => view! { <div class="banner banner-success" role="status"><span>{format!("Routing profile deleted; {n} number{} unlinked.", if n == 1 { "" } else { "s" })}</span></div> }.into_any(),
                Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
            })}
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match profiles.await {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No routing profiles yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                            <table class="table">
                                <thead><tr>
                                    <th scope="col">"Name"</th><th scope="col">"Plan"</th><th scope="col">"Country"</th>
                                    <th scope="col">"Outbound"</th><th scope="col">"Trunk references"</th><th scope="col">"Numbers"</th>
                                    <th scope="col"><span class="sr-only">"Actions"</span></th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|p| profile_row(p, update, delete)).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

fn profile_row(
    p: RoutingProfile,
    update: ServerAction<UpdateRoutingProfile>,
    delete: ServerAction<DeleteRoutingProfile>,
) -> impl IntoView {
    let refs = [p.outbound_trunk_ref.clone(), p.inbound_trunk_ref.clone()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    let warning = if p.numbers == 0 {
        format!("Delete \u{201c}{}\u{201d}? No number uses it.", p.name)
    } else {
        format!(
            "Delete \u{201c}{}\u{201d}? {} number{} use{} it and will be unlinked (their calls are not affected).",
            p.name,
            p.numbers,
            if p.numbers == 1 { "" } else { "s" },
            if p.numbers == 1 { "s" } else { "" }
        )
    };
    let delete_label = format!("Delete {}", p.name);
    let (id_update, id_delete) = (p.id.clone(), p.id.clone());
    let row_name = p.name.clone();
    view! {
        <tr data-profile=row_name>
            <td><strong>{p.name.clone()}</strong></td>
            <td>{p.plan_code.clone()}</td>
            <td>{p.country.clone()}</td>
            <td>{p.outbound_provider.clone()}</td>
            <td class="muted">{refs}</td>
            <td>{p.numbers}</td>
            <td class="actions">
                <details class="inline-form">
                    <summary class="button button-secondary button-small">"Edit"</summary>
                    <ActionForm action=update>
                        <input type="hidden" name="id" value=id_update/>
                        <ProfileFields profile=Some(p.clone()) errors=update.value()/>
                        <button class="button button-primary button-small" type="submit">"Save"</button>
                    </ActionForm>
                </details>
                <details class="inline-form">
                    <summary class="button button-danger-outline button-small">"Delete…"</summary>
                    <ActionForm action=delete>
                        <input type="hidden" name="id" value=id_delete/>
                        <p class="small">{warning}</p>
                        <button class="button button-danger button-small" type="submit">{delete_label}</button>
                    </ActionForm>
                </details>
            </td>
        </tr>
    }
}

#[component]
fn ProfileFields<T>(
    profile: Option<RoutingProfile>,
    errors: MappedSignal<Option<Result<T, AppError>>>,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
{
    let p = profile.clone();
    let value = move |f: fn(&RoutingProfile) -> String| p.as_ref().map(f).unwrap_or_default();
    let provider = {
        let v = value(|p| p.outbound_provider.clone());
        if v.is_empty() {
            "twilio".to_string()
        } else {
            v
        }
    };
    let prefix = profile
        .as_ref()
        .map(|p| format!("{}-", p.id))
        .unwrap_or_default();
    view! {
        <div class="form-row">
            <Field label="Name" name="name" id_prefix=prefix.clone() value=value(|p| p.name.clone()) required=true error=Signal::derive(field_error(errors, "name"))/>
            <Field label="Plan code" name="plan_code" id_prefix=prefix.clone() value=value(|p| p.plan_code.clone()) error=Signal::derive(field_error(errors, "plan_code"))/>
            <Field label="Country" name="country" id_prefix=prefix.clone() value=value(|p| p.country.clone()) placeholder="US" hint="ISO 3166 code, e.g. US, GB, DE." error=Signal::derive(field_error(errors, "country"))/>
        </div>
        <div class="form-row">
            <Field label="Outbound provider" name="outbound_provider" id_prefix=prefix.clone() value=provider error=Signal::derive(field_error(errors, "outbound_provider"))/>
            <Field label="Outbound trunk reference" name="outbound_trunk_ref" id_prefix=prefix.clone() value=value(|p| p.outbound_trunk_ref.clone()) error=Signal::derive(field_error(errors, "outbound_trunk_ref"))/>
            <Field label="Inbound trunk reference" name="inbound_trunk_ref" id_prefix=prefix value=value(|p| p.inbound_trunk_ref.clone()) error=Signal::derive(field_error(errors, "inbound_trunk_ref"))/>
        </div>
    }
}
