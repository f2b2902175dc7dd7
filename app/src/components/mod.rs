//! Building blocks shared by the pages.

pub mod icons;

use crate::{error::AppError, model::Me};
use leptos::prelude::*;

/// The signed-in user, loaded once by the dashboard layout and shared with every page.
#[derive(Clone, Copy)]
pub struct MeResource(pub Resource<Result<Option<Me>, AppError>>);

/// Installation facts (sandbox or not), loaded once by the app shell.
#[derive(Clone, Copy)]
pub struct SiteResource(pub Resource<Result<crate::model::SiteInfo, AppError>>);

pub fn use_me() -> Option<MeResource> {
    use_context::<MeResource>()
}

/// The signed-in user, once the layout's resource has loaded.
pub async fn signed_in(me: Option<MeResource>) -> Option<Me> {
    match me {
        Some(m) => m.0.await.ok().flatten(),
        None => None,
    }
}

/// The signed-in user if they are an administrator. Pages gate admin-only resources on it,
/// so an owner's page never asks for what only admins may read.
pub async fn signed_in_admin(me: Option<MeResource>) -> Option<Me> {
    signed_in(me).await.filter(Me::is_admin)
}

#[component]
pub fn PageHeader(
    #[prop(into)] title: String,
    #[prop(optional, into)] subtitle: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <header class="page-header">
            <div>
                <h1>{title}</h1>
                {subtitle.map(|s| view! { <p class="subtitle">{s}</p> })}
            </div>
            {children.map(|c| view! { <div class="page-actions">{c()}</div> })}
        </header>
    }
}

#[component]
pub fn EmptyState(
    #[prop(into)] title: String,
    #[prop(into)] body: String,
    #[prop(optional)] children: Option<Children>,
    icon: fn() -> AnyView,
) -> impl IntoView {
    let label = title.clone();
    view! {
        <section class="empty-state" aria-label=label>
            <div class="empty-icon" aria-hidden="true">{icon()}</div>
            <h2>{title}</h2>
            <p>{body}</p>
            {children.map(|c| c())}
        </section>
    }
}

#[component]
pub fn Loading(#[prop(optional, into)] label: Option<String>) -> impl IntoView {
    view! {
        <div class="loading" role="status">
            <span class="spinner" aria-hidden="true"></span>
            {label.unwrap_or_else(|| "Loading…".to_string())}
        </div>
    }
}

/// An error that is not about one field (field errors are shown next to their input).
#[component]
pub fn ErrorBanner(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="banner banner-error" role="alert">
            {icons::alert()}
            <span>{message}</span>
        </div>
    }
}

#[component]
pub fn SuccessBanner(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="banner banner-success" role="status">
            {icons::check()}
            <span>{message}</span>
        </div>
    }
}

/// Something the user should know that is neither a success nor an error.
#[component]
pub fn InfoBanner(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="banner banner-info" role="status">
            {icons::info()}
            <span>{message}</span>
        </div>
    }
}

/// The confirmation an action left for the page it sent the user to ("Deleted assistant
/// Reception."), shown once (see `server::notice`). Pages that actions redirect to
/// render it under their header.
#[component]
pub fn Notice() -> impl IntoView {
    view! { <NoticeOf notice=notice_resource()/> }
}

/// The message the last action left for this page, asked for once. A page whose content
/// waits for something (`AdminOnly`) creates it at its top, outside that wait, and shows
/// it with [`NoticeOf`] inside: a resource first created inside another's pending content
/// is not rendered by the server.
pub fn notice_resource() -> Resource<Option<crate::model::NoticeView>> {
    // Asked again when the page's address changes (a tab, a filter), which finds nothing:
    // the message belongs to the visit the action led to.
    let location = leptos_router::hooks::use_location();
    Resource::new(
        move || (location.pathname.get(), location.search.get()),
        |_| async move { crate::functions::site::take_notice().await.ok().flatten() },
    )
}

/// Shows the message of [`notice_resource`].
#[component]
pub fn NoticeOf(notice: Resource<Option<crate::model::NoticeView>>) -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                notice.await.map(|n| match n.error {
                    true => view! { <ErrorBanner message=n.message/> }.into_any(),
                    false => view! { <SuccessBanner message=n.message/> }.into_any(),
                })
            })}
        </Suspense>
    }
}

/// The outcome of a form's last submission: a success message, or the error (field
/// errors get a summary here and their own message next to the input).
pub fn action_outcome<T, S>(value: S, success: &'static str) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
{
    move || {
        value.get().map(|result| match result {
            Ok(_) => view! { <SuccessBanner message=success/> }.into_any(),
            Err(AppError::Invalid { errors }) if errors.len() > 1 => {
                view! { <ErrorBanner message="Please correct the fields marked below."/> }
                    .into_any()
            }
            Err(e @ AppError::Invalid { .. }) => {
                view! { <ErrorBanner message=e.to_string()/> }.into_any()
            }
            Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
        })
    }
}

/// Counts successful submissions of an action, so lists refetch after a success but a
/// failed submission does not re-render (and clear) the form being corrected.
pub fn successes<T, S>(value: S) -> ReadSignal<u32>
where
    T: Send + Sync + 'static,
    S: With<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    let (count, set_count) = signal(0u32);
    Effect::new(move |_| {
        if value.with(|v| matches!(v, Some(Ok(_)))) {
            set_count.update(|n| *n += 1);
        }
    });
    count
}

/// The message for `field` from the form's last submission, if any.
pub fn field_error<T, S>(
    value: S,
    field: &'static str,
) -> impl Fn() -> Option<String> + Copy + Send + Sync + 'static
where
    T: Clone + Send + Sync + 'static,
    S: With<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
{
    move || {
        value.with(|v| {
            v.as_ref()
                .and_then(|r| r.as_ref().err())
                .and_then(|e| e.field(field))
        })
    }
}

/// A labelled input with its hint and error message wired up for screen readers.
#[component]
pub fn Field(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    /// Makes ids unique when the same form appears several times on a page.
    #[prop(optional, into)]
    id_prefix: String,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional, into)] value: Option<String>,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(optional, into)] placeholder: Option<String>,
    #[prop(optional, into)] autocomplete: Option<String>,
    #[prop(optional)] required: bool,
    #[prop(optional)] readonly: bool,
    #[prop(into, default = Signal::stored(None))] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("field-{id_prefix}{name}");
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described = {
        let hint_id = hint_id.clone();
        let error_id = error_id.clone();
        let has_hint = hint.is_some();
        move || {
            let mut ids = Vec::new();
            if has_hint {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                value=value
                placeholder=placeholder
                autocomplete=autocomplete
                required=required
                readonly=readonly
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described
            />
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
            {move || error.get().map(|e| view! { <p class="field-error" id=error_id.clone()>{e}</p> })}
        </div>
    }
}

#[component]
pub fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <section class="error-page" aria-labelledby="forbidden-title">
            <p class="error-code">"403"</p>
            <h1 id="forbidden-title">"Administrators only"</h1>
            <p>"This page is for Dial administrators. If you need access, ask an administrator to change your role."</p>
            <a class="button button-primary" href="/dashboard">"Back to the dashboard"</a>
        </section>
    }
}

/// Renders `children` for admins; the 403 page for everyone else. Pages built inside
/// `children` create their resources only when they are shown.
#[component]
pub fn AdminOnly(children: ChildrenFn) -> impl IntoView {
    let me = use_me();
    view! {
        <Suspense fallback=|| view! { <Loading/> }>
            {
                let children = children.clone();
                move || {
                    let children = children.clone();
                    Suspend::new(async move {
                        let user = match me {
                            Some(me) => me.0.await.ok().flatten(),
                            None => None,
                        };
                        match user {
                            Some(u) if u.is_admin() => children().into_any(),
                            _ => view! { <Forbidden/> }.into_any(),
                        }
                    })
                }
            }
        </Suspense>
    }
}

/// Page links for a server-paged list. The caller builds the links (so they keep its
/// filters, see [`href_with`]); a missing link shows as a disabled button.
/// A time ("2025-01-02 14:03 UTC") for a narrow table column: it wraps between the date
/// and the time of day, never inside either.
pub fn stacked_time(epoch: i64) -> impl IntoView {
    let text = crate::model::format_time(epoch);
    let (date, time) = match text.split_once(' ') {
        Some((d, t)) => (d.to_string(), t.to_string()),
        None => (text.clone(), String::new()),
    };
    view! { <span class="stacked-time"><span>{date}</span>" "<span>{time}</span></span> }
}

#[component]
pub fn Pager(
    page: u32,
    pages: u32,
    total: u64,
    /// What one item is called, and several ("call", "calls").
    noun: &'static str,
    nouns: &'static str,
    prev: Option<String>,
    next: Option<String>,
    /// The count stopped at `total`: more items match.
    #[prop(optional)]
    more: bool,
    /// The links' words: ("← Previous", "Next →") by default; newest-first lists use
    /// ("← Newer", "Older →").
    #[prop(default = ("← Previous", "Next →"))]
    labels: (&'static str, &'static str),
) -> impl IntoView {
    let link = |href: Option<String>, label: &'static str, rel: &'static str| {
        match href {
        Some(href) => view! { <a class="button button-secondary" href=href rel=rel>{label}</a> }.into_any(),
        None => view! { <span class="button button-secondary disabled" aria-disabled="true">{label}</span> }.into_any(),
    }
    };
    view! {
        <nav class="pager" aria-label="Pages">
            <span class="muted">{
                let counted = if more {
                    format!("more than {total} {nouns}")
                } else {
                    format!("{total} {}", if total == 1 { noun } else { nouns })
                };
                match (page, more) {
                    (0, _) => counted,
                    (_, true) => format!("{counted} · page {page}"),
                    (_, false) => format!("{counted} · page {page} of {pages}"),
                }
            }</span>
            <div class="pager-links">
                {link(prev, labels.0, "prev")}
                {link(next, labels.1, "next")}
            </div>
        </nav>
    }
}

/// A value of the current query string (None when absent or empty).
pub fn query_value(
    name: &'static str,
) -> impl Fn() -> Option<String> + Copy + Send + Sync + 'static {
    let query = leptos_router::hooks::use_query_map();
    move || query.with(|q| q.get(name)).filter(|v| !v.is_empty())
}

/// `path?…` keeping the current query's values of `keys`, with `changes` applied (an
/// empty value drops the key). For sort, page and refresh links that keep the filters.
pub fn href_with(path: &str, keys: &[&str], changes: &[(&str, String)]) -> String {
    let query = leptos_router::hooks::use_query_map().get();
    let encode = |value: &str| {
        value
            .replace('%', "%25")
            .replace('&', "%26")
            .replace('+', "%2B")
            .replace('#', "%23")
            .replace(' ', "+")
    };
    let pairs: Vec<String> = keys
        .iter()
        .filter_map(|key| {
            let value = match changes.iter().find(|(k, _)| k == key) {
                Some((_, v)) => Some(v.clone()),
                None => query.get(key),
            };
            value
                .filter(|v| !v.is_empty())
                .map(|v| format!("{key}={}", encode(&v)))
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// A counter that goes up whenever a call the user may see changes, fed by the server's
/// `GET /events/calls` stream (server-sent events). Pages that list or show calls read it
/// in their resources' sources, so they refetch as calls move (and whenever the stream
/// (re)connects, to catch up on what it missed). On the server (and before
/// hydration) it stays at 0: the rendered page shows the state at that moment.
pub fn use_call_changes() -> ReadSignal<u32> {
    use_live_changes(&["call"])
}

/// [`use_call_changes`] for other kinds of change the stream carries: `call`, `run`
/// (provisioning runs) and `campaign` — from this instance or, on PostgreSQL, any other
/// (`server::changes`).
pub fn use_live_changes(kinds: &'static [&'static str]) -> ReadSignal<u32> {
    let (changes, set_changes) = signal(0u32);
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{closure::Closure, JsCast};
        Effect::new(move |_| {
            let Ok(source) = web_sys::EventSource::new("/events/calls") else {
                return;
            };
            let on_call = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
                set_changes.update(|n| *n = n.wrapping_add(1));
            });
            for kind in kinds {
                let _ =
                    source.add_event_listener_with_callback(kind, on_call.as_ref().unchecked_ref());
            }
            // On (re)connecting, refetch too: changes made before the stream was open (or
            // while it was down) were not announced.
            let _ =
                source.add_event_listener_with_callback("open", on_call.as_ref().unchecked_ref());
            on_call.forget();
            let source = send_wrapper::SendWrapper::new(source);
            on_cleanup(move || source.close());
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_changes, kinds);
    changes
}
