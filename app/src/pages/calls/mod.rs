//! Calls: the live, filtered list with the "Place a call" form, and one call's page (its
//! facts, hang-up, transfer and refresh while it is on, and its timeline).
//!
//! Both pages render completely on the server (the state at that moment, with a refresh
//! link). Once hydrated they follow the calls: they refetch on every change the server
//! announces (`use_call_changes`, server-sent events) and, as a fallback for changes
//! the stream does not carry (another instance's), every 10 s.

use crate::{
    components::{
        action_outcome, field_error, href_with, icons, query_value, use_call_changes, use_me,
        EmptyState, ErrorBanner, Field, Loading, PageHeader, Pager, SuccessBanner,
    },
    error::AppError,
    functions::{
        assistants::list_assistants,
        calls::{
            callable_numbers, filter_numbers, get_call, list_calls, HangUpCall, PlaceCall,
            ReconcileCalls, RefreshCall, TransferCall,
        },
    },
    model::{
        AssistantOption, CallDetail, CallEventView, CallQuery, CallRow, CallStatus, Direction,
        TransferBlock, TransferResult,
    },
    phone::format_e164,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

mod browser_call;
mod call;
mod list;

pub use browser_call::BrowserCallPage;
pub use call::CallPage;
pub use list::CallsPage;

/// How often an open page refetches its calls besides the change stream (which carries
/// only this instance's changes).
pub(super) const POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// The filters of the calls list, in the order they appear in links.
pub(super) const FILTERS: [&str; 9] = [
    "assistant",
    "number",
    "direction",
    "status",
    "date",
    "tests",
    "page",
    "after",
    "before",
];

/// The calls list with the current filters, some replaced.
pub(super) fn list_href(changes: &[(&str, String)]) -> String {
    href_with("/dashboard/calls", &FILTERS, changes)
}

/// Seconds since the epoch, on the server or in the browser.
pub(super) fn now_secs() -> i64 {
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        (browser::date_now() / 1000.0) as i64
    }
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
mod browser {
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        /// `Date.now()`: milliseconds since the epoch (the standard clock is not available
        /// in WebAssembly).
        #[wasm_bindgen(js_namespace = Date, js_name = now)]
        pub fn date_now() -> f64;
    }
}

/// Bumps `tick` every [`POLL`] while `follow` is true (only in the browser: effects do not
/// run on the server).
pub(super) fn poll_while(tick: RwSignal<u32>, follow: impl Fn() -> bool + Send + Sync + 'static) {
    Effect::new(move |_| {
        tick.track();
        if follow() {
            set_timeout(
                move || {
                    tick.try_update(|t| *t = t.wrapping_add(1));
                },
                POLL,
            );
        }
    });
}

/// A call's duration; while the call is on, it counts up each second in the browser
/// (effects do not run on the server, which renders it once).
#[component]
pub(super) fn LiveDuration(answered_at: Option<i64>, ended_at: Option<i64>) -> impl IntoView {
    let now = RwSignal::new(now_secs());
    if answered_at.is_some() && ended_at.is_none() {
        Effect::new(move |_| {
            now.track();
            set_timeout(
                move || {
                    now.try_set(now_secs());
                },
                std::time::Duration::from_secs(1),
            );
        });
    }
    move || match answered_at {
        Some(at) => duration_words(ended_at.unwrap_or_else(|| now.get()) - at),
        None => "—".to_string(),
    }
}

/// `m:ss` (or `h:mm:ss` from an hour on).
pub fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Epoch seconds as `2026-11-22 14:03:07 UTC`.
pub(super) fn time_with_seconds(epoch: i64) -> String {
    crate::model::utc(epoch)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            )
        })
        .unwrap_or_else(|| "—".to_string())
}

/// Epoch seconds as `14:03:07` (UTC).
pub(super) fn clock(epoch: i64) -> String {
    crate::model::utc(epoch)
        .map(|t| format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second))
        .unwrap_or_else(|| "—".to_string())
}

/// The call's status as a badge; calls that are on are highlighted.
pub fn call_status_badge(status: CallStatus) -> impl IntoView {
    let class = match status {
        CallStatus::Dialing | CallStatus::Ringing => "badge badge-live",
        CallStatus::Answered => "badge badge-live badge-ok",
        CallStatus::Ended => "badge badge-muted",
    };
    view! { <span class=class data-status=status.as_str()>{status.label()}</span> }
}

pub(super) fn direction_badge(direction: Direction) -> impl IntoView {
    let arrow = match direction {
        Direction::Inbound => "↙",
        Direction::Outbound => "↗",
    };
    view! {
        <span class=format!("badge badge-direction badge-{}", direction.as_str())>
            <span aria-hidden="true">{arrow}</span>{direction.label()}
        </span>
    }
}

/// The call's heading: the other party.
pub(super) fn call_title(call: &CallRow) -> String {
    if call.direction == Direction::Inbound {
        format!("Call from {}", format_e164(&call.from))
    } else {
        format!("Call to {}", format_e164(&call.to))
    }
}
