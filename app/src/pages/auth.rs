//! First-run and sign-in pages (outside the dashboard layout).

use crate::{
    components::{action_outcome, field_error, Field, SuccessBanner},
    functions::auth::{setup_needs_code, Login, Setup},
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
fn Brand() -> impl IntoView {
    view! {
        <div class="brand brand-large">
            <span class="brand-mark" aria-hidden="true">
                {crate::components::icons::radio()}
            </span>
            <span>"Dial"</span>
        </div>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<Setup>::new();
    let value = setup.value();
    let needs_code = Resource::new(|| (), |_| setup_needs_code());
    view! {
        <Title text="Set up"/>
        <main class="auth-page">
            <div class="auth-card">
                <Brand/>
                <h1>"Welcome to Dial"</h1>
                <p class="muted">
                    "Create the first administrator account. You can add more users, and connect Twilio and LiveKit, once you are signed in."
                </p>
                {action_outcome(value, "Account created.")}
                <ActionForm action=setup>
                    <Field
                        label="Username"
                        name="username"
                        autocomplete="username"
                        hint="3–32 characters: letters, digits, dots, dashes or underscores."
                        required=true
                        error=Signal::derive(field_error(value, "username"))
                    />
                    <Field
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="new-password"
                        hint="At least 10 characters."
                        required=true
                        error=Signal::derive(field_error(value, "password"))
                    />
                    <Field
                        label="Password again"
                        name="password_confirm"
                        kind="password"
                        autocomplete="new-password"
                        required=true
                        error=Signal::derive(field_error(value, "password_confirm"))
                    />
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            matches!(needs_code.await, Ok(true)).then(|| view! {
                                <Field
                                    label="Setup code"
                                    name="setup_code"
                                    autocomplete="off"
                                    hint="Dial is reachable from other machines, so the first account needs the one-time code printed in its log at start (search the log for \u{201c}setup code\u{201d})."
                                    required=true
                                    error=Signal::derive(field_error(value, "setup_code"))
                                />
                            })
                        })}
                    </Suspense>
                    <button class="button button-primary button-block" type="submit" disabled=move || setup.pending().get()>
                        {move || if setup.pending().get() { "Creating account…" } else { "Create administrator" }}
                    </button>
                </ActionForm>
            </div>
        </main>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let value = login.value();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_default();
    // Set by signing out (the session that could carry a notice is gone by then).
    let signed_out = move || query.with(|q| q.get("signed_out").is_some());
    view! {
        <Title text="Sign in"/>
        <main class="auth-page">
            <div class="auth-card">
                <Brand/>
                <h1>"Sign in"</h1>
                {move || (signed_out() && value.get().is_none()).then(|| view! { <SuccessBanner message="You are signed out."/> })}
                {action_outcome(value, "Signed in.")}
                <ActionForm action=login>
                    <input type="hidden" name="next" value=next/>
                    <Field label="Username" name="username" autocomplete="username" required=true
                        error=Signal::derive(field_error(value, "username"))/>
                    <Field label="Password" name="password" kind="password" autocomplete="current-password" required=true/>
                    <button class="button button-primary button-block" type="submit" disabled=move || login.pending().get()>
                        {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
                <p class="muted small">"Forgot your password? An administrator can reset it."</p>
            </div>
        </main>
    }
}
