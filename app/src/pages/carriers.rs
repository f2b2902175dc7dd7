//! Other SIP carriers (admin), and numbers added to them by hand.

use crate::{
    components::{
        action_outcome, field_error, successes, AdminOnly, ErrorBanner, Field, Loading, PageHeader,
    },
    error::AppError,
    functions::{
        carriers::{carriers, AddCarrierNumber, CreateCarrier, DeleteCarrier, UpdateCarrier},
        numbers::owner_options,
    },
    model::{CarrierView, CARRIER_KINDS, TRANSPORTS},
    phone::COUNTRIES,
};
use leptos::{form::ActionForm, html, prelude::*};
use leptos_meta::Title;

#[component]
pub fn CarriersPage() -> impl IntoView {
    view! {
        <Title text="Carriers"/>
        <AdminOnly><Carriers/></AdminOnly>
    }
}

#[component]
fn Carriers() -> impl IntoView {
    let create = ServerAction::<CreateCarrier>::new();
    let update = ServerAction::<UpdateCarrier>::new();
    let delete = ServerAction::<DeleteCarrier>::new();
    let add = ServerAction::<AddCarrierNumber>::new();
    let (c, u, d, a) = (
        successes(create.value()),
        successes(update.value()),
        successes(delete.value()),
        successes(add.value()),
    );
    let list = Resource::new(move || (c.get(), u.get(), d.get(), a.get()), |_| carriers());
    let owners = Resource::new(
        || (),
        |_| async move { owner_options().await.unwrap_or_default() },
    );
    let form = NodeRef::<html::Form>::new();
    Effect::new(move |_| {
        if c.get() > 0 {
            if let Some(f) = form.get() {
                f.reset();
            }
        }
    });
    let value = create.value();
    view! {
        <PageHeader title="Carriers" subtitle="SIP trunks besides Twilio — SignalWire, Telnyx or any SIP provider — for numbers bought elsewhere."/>
        <section class="card" aria-labelledby="new-carrier">
            <h2 id="new-carrier">"Add a carrier"</h2>
            {action_outcome(value, "Carrier added.")}
            <ActionForm action=create node_ref=form>
                <CarrierFields carrier=None errors=value/>
                <button class="button button-primary" type="submit">"Add carrier"</button>
            </ActionForm>
        </section>
        {action_outcome(update.value(), "Carrier saved.")}
        {action_outcome(delete.value(), "Carrier deleted.")}
        {action_outcome(add.value(), "Number added.")}
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                let owner_list = owners.await;
                match list.await {
                    Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <section class="card"><p class="muted">"No other carriers yet. Numbers bought through Dial use Twilio."</p></section> }.into_any(),
                    Ok(list) => list.into_iter().map(|carrier| carrier_card(carrier, owner_list.clone(), update, delete, add)).collect_view().into_any(),
                }
            })}
        </Suspense>
    }
}

fn carrier_card(
    carrier: CarrierView,
    owners: Vec<crate::model::OwnerOption>,
    update: ServerAction<UpdateCarrier>,
    delete: ServerAction<DeleteCarrier>,
    add: ServerAction<AddCarrierNumber>,
) -> impl IntoView {
    let kind = CARRIER_KINDS
        .iter()
        .find(|(k, _)| *k == carrier.kind)
        .map(|(_, l)| *l)
        .unwrap_or("SIP");
    let transport = TRANSPORTS
        .iter()
        .find(|(t, _)| *t == carrier.transport)
        .map(|(_, l)| *l)
        .unwrap_or("Auto");
    let password = match &carrier.auth_password.ends_with {
        Some(end) => format!("set · ends in ••{end}"),
        None if carrier.auth_password.is_set() => "set".to_string(),
        None => "not set".to_string(),
    };
    let (heading_id, heading_ref) = (
        format!("carrier-{}", carrier.id),
        format!("carrier-{}", carrier.id),
    );
    let (card_name, title) = (carrier.name.clone(), carrier.name.clone());
    let editable = carrier.clone();
    let address = carrier.sip_address.clone();
    let username = if carrier.auth_username.is_empty() {
        "—".to_string()
    } else {
        carrier.auth_username.clone()
    };
    let country = if carrier.destination_country.is_empty() {
        "—".to_string()
    } else {
        carrier.destination_country.clone()
    };
    let sources = if carrier.inbound_addresses.is_empty() {
        "Any".to_string()
    } else {
        carrier.inbound_addresses.join(", ")
    };
    let count = carrier.numbers;
    let (country_id, country_for, owner_id_attr, owner_for) = (
        format!("field-add-{}-country", carrier.id),
        format!("field-add-{}-country", carrier.id),
        format!("field-add-{}-owner", carrier.id),
        format!("field-add-{}-owner", carrier.id),
    );
    let (id_update, id_delete, id_add) =
        (carrier.id.clone(), carrier.id.clone(), carrier.id.clone());
    let prefix = format!("add-{}-", carrier.id);
    let delete_label = format!("Delete {}", carrier.name);
    let delete_note = if carrier.numbers > 0 {
        format!(
            "{} number{} still use{} this carrier; release them first.",
            carrier.numbers,
            if carrier.numbers == 1 { "" } else { "s" },
            if carrier.numbers == 1 { "s" } else { "" }
        )
    } else {
        format!(
            "Delete \u{201c}{}\u{201d}? This cannot be undone.",
            carrier.name
        )
    };
    let add_value = add.value();
    view! {
        <section class="card" aria-labelledby=heading_ref data-carrier=card_name>
            <h2 id=heading_id>{title}" "<span class="badge">{kind}</span></h2>
            <dl class="facts">
                <dt>"SIP address"</dt><dd><code>{address}</code></dd>
                <dt>"Transport"</dt><dd data-testid="carrier-transport">{transport}</dd>
                <dt>"Auth username"</dt><dd>{username}</dd>
                <dt>"Auth password"</dt><dd data-field="carrier_password">{password}</dd>
                <dt>"Destination country"</dt><dd>{country}</dd>
                <dt>"Inbound source addresses"</dt><dd>{sources}</dd>
                <dt>"Numbers"</dt><dd>{count}</dd>
            </dl>
            <div class="card-actions">
                <details class="inline-form">
                    <summary class="button button-primary button-small">"Add a number…"</summary>
                    <ActionForm action=add>
                        <input type="hidden" name="carrier_id" value=id_add/>
                        <Field label="Number" name="e164" id_prefix=prefix.clone() placeholder="+1 415 555 0100" required=true error=Signal::derive(field_error(add_value, "e164"))/>
                        <label for=country_for>"Country (for national formats)"</label>
                        <select id=country_id name="country">
                            <option value="">"— number has a + country code —"</option>
                            {COUNTRIES.iter().map(|(iso, name, _)| view! { <option value=*iso>{*name}</option> }).collect_view()}
                        </select>
                        <Field label="Label" name="label" id_prefix=prefix.clone()/>
                        <label for=owner_for>"Owner"</label>
                        <select id=owner_id_attr name="owner_id">
                            <option value="">"Not allotted"</option>
                            {owners.into_iter().map(|o| view! { <option value=o.id>{o.username}</option> }).collect_view()}
                        </select>
                        <button class="button button-primary button-small" type="submit">"Add number"</button>
                    </ActionForm>
                </details>
                <details class="inline-form">
                    <summary class="button button-secondary button-small">"Edit"</summary>
                    <ActionForm action=update>
                        <input type="hidden" name="id" value=id_update/>
                        <CarrierFields carrier=Some(editable) errors=update.value()/>
                        <button class="button button-primary button-small" type="submit">"Save"</button>
                    </ActionForm>
                </details>
                <details class="inline-form">
                    <summary class="button button-danger-outline button-small">"Delete…"</summary>
                    <ActionForm action=delete>
                        <input type="hidden" name="id" value=id_delete/>
                        <p class="small">{delete_note}</p>
                        <button class="button button-danger button-small" type="submit">{delete_label}</button>
                    </ActionForm>
                </details>
            </div>
        </section>
    }
}

#[component]
fn CarrierFields<T>(
    carrier: Option<CarrierView>,
    errors: MappedSignal<Option<Result<T, AppError>>>,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
{
    let c = carrier.clone();
    let value = move |f: fn(&CarrierView) -> String| c.as_ref().map(f).unwrap_or_default();
    let prefix = carrier
        .as_ref()
        .map(|c| format!("{}-", c.id))
        .unwrap_or_default();
    let kind = value(|c| c.kind.clone());
    let transport = value(|c| c.transport.clone());
    let password_hint = if carrier.as_ref().is_some_and(|c| c.auth_password.is_set()) {
        "Leave empty to keep the current password."
    } else {
        "Stored encrypted; never shown again."
    };
    view! {
        <div class="form-row">
            <Field label="Name" name="name" id_prefix=prefix.clone() value=value(|c| c.name.clone()) required=true error=Signal::derive(field_error(errors, "name"))/>
            <div class="field">
                <label for=format!("field-{prefix}kind")>"Kind"</label>
                <select id=format!("field-{prefix}kind") name="kind">
                    {CARRIER_KINDS.iter().map(|(k, l)| { let is = kind == *k; view! { <option value=*k selected=is>{*l}</option> } }).collect_view()}
                </select>
            </div>
            <Field label="SIP address" name="sip_address" id_prefix=prefix.clone() value=value(|c| c.sip_address.clone()) placeholder="sip.telnyx.com" required=true
                hint="Host name only, as LiveKit expects it — no sip:, user or port." error=Signal::derive(field_error(errors, "sip_address"))/>
            <div class="field">
                <label for=format!("field-{prefix}transport")>"Transport"</label>
                <select id=format!("field-{prefix}transport") name="transport">
                    {TRANSPORTS.iter().map(|(t, l)| { let is = transport == *t; view! { <option value=*t selected=is>{*l}</option> } }).collect_view()}
                </select>
            </div>
        </div>
        <div class="form-row">
            <Field label="Auth username" name="auth_username" id_prefix=prefix.clone() value=value(|c| c.auth_username.clone()) autocomplete="off" error=Signal::derive(field_error(errors, "auth_username"))/>
            <Field label="Auth password" name="auth_password" id_prefix=prefix.clone() kind="password" autocomplete="new-password" hint=password_hint error=Signal::derive(field_error(errors, "auth_password"))/>
            <Field label="Destination country" name="destination_country" id_prefix=prefix.clone() value=value(|c| c.destination_country.clone()) placeholder="US" error=Signal::derive(field_error(errors, "destination_country"))/>
            <Field label="Calls a second" name="outbound_cps" id_prefix=prefix.clone() kind="number" value=value(|c| c.outbound_cps.max(1).to_string())
                hint="What the carrier accepts on this trunk; campaigns share it." error=Signal::derive(field_error(errors, "outbound_cps"))/>
        </div>
        <Field label="Inbound source addresses" name="inbound_addresses" id_prefix=prefix value=value(|c| c.inbound_addresses.join(", ")) placeholder="192.0.2.10, 198.51.100.0/24"
            hint="Optional: the addresses this carrier sends calls from (IPs or CIDR ranges, comma-separated)." error=Signal::derive(field_error(errors, "inbound_addresses"))/>
    }
}
