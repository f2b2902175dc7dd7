//! The users page: create users, change their role, reset passwords, disable and enable
//! accounts (admins).

use crate::{
    components::{
        action_outcome, field_error, successes, use_me, AdminOnly, ErrorBanner, Field, Loading,
        PageHeader,
    },
    functions::users::{list_users, CreateUser, ResetPassword, SetUserDisabled, SetUserRole},
    model::{format_time, Role},
};
use leptos::{form::ActionForm, html, prelude::*};
use leptos_meta::Title;

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users"/>
        <AdminOnly><UsersAdmin/></AdminOnly>
    }
}

#[component]
fn UsersAdmin() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let toggle = ServerAction::<SetUserDisabled>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let created = successes(create.value());
    let toggled = successes(toggle.value());
    let roles_changed = successes(set_role.value());
    let users = Resource::new(
        move || (created.get(), toggled.get(), roles_changed.get()),
        |_| list_users(),
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
    let me = use_me();
    // An administrator who made themselves an owner: the sidebar and the settings pages
    // follow (the server sends the browser to the settings overview).
    Effect::new(move |_| {
        if matches!(set_role.value().get(), Some(Ok(true))) {
            if let Some(m) = me {
                m.0.refetch();
            }
        }
    });
    view! {
        <PageHeader title="Users" subtitle="Administrators manage everything; assistant owners manage their own numbers, assistants and calls."/>
        <section class="card" aria-labelledby="new-user">
            <h2 id="new-user">"Add a user"</h2>
            {action_outcome(value, "User created. They can sign in now.")}
            <ActionForm action=create node_ref=form>
                <div class="form-row">
                    <Field label="Username" name="username" autocomplete="off" required=true
                        error=Signal::derive(field_error(value, "username"))/>
                    <Field label="Initial password" name="password" kind="password" autocomplete="new-password" required=true
                        hint="At least 10 characters. Share it with the user privately."
                        error=Signal::derive(field_error(value, "password"))/>
                    <div class="field">
                        <label for="field-role">"Role"</label>
                        <select id="field-role" name="role">
                            <option value="owner" selected>"Assistant owner"</option>
                            <option value="admin">"Administrator"</option>
                        </select>
                    </div>
                </div>
                <button class="button button-primary" type="submit" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create user" }}
                </button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="all-users">
            <h2 id="all-users">"All users"</h2>
            {action_outcome(reset.value(), "Password reset. The user's sessions were ended.")}
            {action_outcome(toggle.value(), "Saved.")}
            {action_outcome(set_role.value(), "Role changed. It applies to the user's next request.")}
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    // The list first: what is read before the first await is what the
                    // Suspense follows (a new user refetches it).
                    let list = users.await;
                    // One's own account is never offered "Disable…" (the server refuses it too).
                    let my_id = match me {
                        Some(m) => m.0.await.ok().flatten().map(|u| u.id),
                        None => None,
                    };
                    match list {
                        Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                        Ok(list) => {
                        // Dial keeps one active administrator: the only one is not offered
                        // "Make owner…" (the server refuses it too).
                        let active_admins = list.iter().filter(|u| u.role == Role::Admin && !u.disabled).count();
                        view! {
                            <div class="table-wrap table-wrap-popovers">
                            <table class="table">
                                <thead><tr>
                                    <th scope="col">"Username"</th><th scope="col">"Role"</th><th scope="col">"Status"</th>
                                    <th scope="col">"Created"</th><th scope="col">"Last sign-in"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                                </tr></thead>
                                <tbody>
                                {list.into_iter().map(|u| {
                                    let disabled = u.disabled;
                                    let row_name = u.username.clone();
                                    let cell_name = u.username.clone();
                                    let reset_label = format!("New password for {}", u.username);
                                    let reset_button = format!("Set password for {}", u.username);
                                    let enable_button = format!("Enable {}", u.username);
                                    let disable_note = format!("{} will be signed out everywhere at once and cannot sign in until enabled again.", u.username);
                                    let disable_button = format!("Disable {}", u.username);
                                    let input_id = format!("reset-{}", u.id);
                                    let (id1, id2, id3, id4) = (u.id.clone(), u.id.clone(), u.id.clone(), u.id.clone());
                                    let status = if disabled {
                                        view! { <span class="badge badge-muted">"Disabled"</span> }.into_any()
                                    } else {
                                        view! { <span class="badge badge-ok">"Active"</span> }.into_any()
                                    };
                                    let is_me = my_id.as_deref() == Some(u.id.as_str());
                                    let role_form = match u.role {
                                        Role::Owner => {
                                            let note = format!("{} will manage everything in Dial: users, providers, and every owner's numbers, assistants and calls.", u.username);
                                            let button = format!("Make {} an administrator", u.username);
                                            view! {
                                                <details class="inline-form">
                                                    <summary class="button button-secondary button-small">"Make admin…"</summary>
                                                    <ActionForm action=set_role>
                                                        <p class="small">{note}</p>
                                                        <input type="hidden" name="user_id" value=id4/>
                                                        <input type="hidden" name="role" value="admin"/>
                                                        <button class="button button-primary button-small" type="submit">{button}</button>
                                                    </ActionForm>
                                                </details>
                                            }.into_any()
                                        }
                                        Role::Admin if !u.disabled && active_admins <= 1 => ().into_any(),
                                        Role::Admin => {
                                            let note = if is_me {
                                                "You will become an assistant owner at once: this page and the other administrator pages close to you, and only another administrator can give the role back.".to_string()
                                            } else {
                                                format!("{} will manage only their own numbers, assistants and calls, from their next request.", u.username)
                                            };
                                            let button = format!("Make {} an assistant owner", u.username);
                                            view! {
                                                <details class="inline-form">
                                                    <summary class="button button-secondary button-small">"Make owner…"</summary>
                                                    <ActionForm action=set_role>
                                                        <p class="small">{note}</p>
                                                        <input type="hidden" name="user_id" value=id4/>
                                                        <input type="hidden" name="role" value="owner"/>
                                                        <button class="button button-danger button-small" type="submit">{button}</button>
                                                    </ActionForm>
                                                </details>
                                            }.into_any()
                                        }
                                    };
                                    let toggle_form = if is_me {
                                        view! { <span class="small muted">"This is you"</span> }.into_any()
                                    } else if disabled {
                                        view! {
                                            <ActionForm action=toggle>
                                                <input type="hidden" name="user_id" value=id2/>
                                                <input type="hidden" name="disabled" value="false"/>
                                                <button class="button button-secondary button-small" type="submit">{enable_button}</button>
                                            </ActionForm>
                                        }.into_any()
                                    } else {
                                        view! {
                                            <details class="inline-form">
                                                <summary class="button button-danger-outline button-small">"Disable…"</summary>
                                                <ActionForm action=toggle>
                                                    <p class="small">{disable_note}</p>
                                                    <input type="hidden" name="user_id" value=id3/>
                                                    <input type="hidden" name="disabled" value="true"/>
                                                    <button class="button button-danger button-small" type="submit">{disable_button}</button>
                                                </ActionForm>
                                            </details>
                                        }.into_any()
                                    };
                                    view! {
                                        <tr data-user=row_name>
                                            <td><strong>{cell_name}</strong></td>
                                            <td class="role-cell">
                                                <span data-testid="role">{u.role.label()}</span>
                                                {role_form}
                                            </td>
                                            <td>{status}</td>
                                            <td>{format_time(u.created_at)}</td>
                                            <td>{u.last_login_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
                                            <td class="actions">
                                                <details class="inline-form">
                                                    <summary class="button button-secondary button-small">"Reset password"</summary>
                                                    <ActionForm action=reset>
                                                        <input type="hidden" name="user_id" value=id1/>
                                                        <label class="sr-only" for=input_id.clone()>{reset_label}</label>
                                                        <input id=input_id name="password" type="password" autocomplete="new-password" placeholder="New password (10+ characters)" required/>
                                                        <button class="button button-primary button-small" type="submit">{reset_button}</button>
                                                    </ActionForm>
                                                </details>
                                                {toggle_form}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}
