//! The dashboard layout (sidebar + content) and the top-level sections.

use crate::{
    components::{icons, EmptyState, ErrorBanner, Loading, MeResource, PageHeader},
    functions::{
        auth::{get_me, Logout},
        stats::get_call_stats,
    },
    model::{CallStats, DayCount},
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::components::{Outlet, A};

#[component]
pub fn DashboardLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    provide_context(MeResource(me));
    let logout = ServerAction::<Logout>::new();
    view! {
        <div class="shell">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <aside class="sidebar">
                <a class="brand" href="/dashboard">
                    <span class="brand-mark" aria-hidden="true">{icons::radio()}</span>
                    <span>"Dial"</span>
                </a>
                <nav class="nav" aria-label="Main">
                    <A href="/dashboard" exact=true>{icons::home()}<span>"Overview"</span></A>
                    <A href="/dashboard/phone-numbers">{icons::phone()}<span>"Phone numbers"</span></A>
                    <A href="/dashboard/assistants">{icons::bot()}<span>"Assistants"</span></A>
                    <A href="/dashboard/calls">{icons::activity()}<span>"Calls"</span></A>
                    <A href="/dashboard/campaigns">{icons::megaphone()}<span>"Campaigns"</span></A>
                    <A href="/dashboard/settings">{icons::settings()}<span>"Settings"</span></A>
                </nav>
                <div class="sidebar-user">
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            me.await.ok().flatten().map(|m| view! {
                                <div class="user-chip">
                                    <span class="avatar" aria-hidden="true">{m.username.chars().next().map(|c| c.to_ascii_uppercase().to_string()).unwrap_or_default()}</span>
                                    <span class="user-meta">
                                        <span class="user-name" data-testid="current-user">{m.username.clone()}</span>
                                        <span class="user-role">{m.role.label()}</span>
                                    </span>
                                </div>
                            })
                        })}
                    </Suspense>
                    <ActionForm action=logout>
                        <button class="button button-ghost button-block" type="submit">
                            {icons::logout()}<span>"Sign out"</span>
                        </button>
                    </ActionForm>
                </div>
            </aside>
            <main class="content" id="main">
                <Outlet/>
            </main>
        </div>
    }
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let me = use_context::<MeResource>();
    let stats = Resource::new(|| (), |_| get_call_stats());
    let open = Resource::new(|| (), |_| crate::functions::health::setup_open_items());
    view! {
        <Title text="Overview"/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                let user = match me {
                    Some(m) => m.0.await.ok().flatten(),
                    None => None,
                };
                let name = user.as_ref().map(|u| u.username.clone()).unwrap_or_default();
                let admin = user.as_ref().is_some_and(|u| u.is_admin());
                view! {
                    <PageHeader title=format!("Hello, {name}") subtitle="Your voice agents on the phone network, at a glance."/>
                    {admin.then(|| view! { <crate::pages::health::OpsSummary open/> })}
                    <section class="card" aria-labelledby="today-title" data-testid="call-stats">
                        <h2 id="today-title">"Today's calls"</h2>
                        {match stats.await {
                            Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                            Ok(s) if s.today == 0 && s.live == 0 && s.days.iter().all(|d| d.calls == 0) => view! {
                                <EmptyState
                                    icon=icons::activity
                                    title="No calls yet"
                                    body="Calls to and from your numbers will be summarised here, by outcome, with a 7-day chart."
                                >
                                    <a class="button button-primary" href="/dashboard/calls#place-call">"Place a call"</a>
                                </EmptyState>
                            }.into_any(),
                            Ok(s) => view! { <CallSummary stats=s/> }.into_any(),
                        }}
                    </section>
                }
            })}
        </Suspense>
    }
}

/// Today's counts by outcome and the 7-day chart.
#[component]
fn CallSummary(stats: CallStats) -> impl IntoView {
    let tiles = [
        ("Calls today", stats.today, "all"),
        ("Completed", stats.completed, "ok"),
        ("No answer", stats.no_answer, "warn"),
        ("Busy", stats.busy, "warn"),
        ("Declined", stats.declined, "warn"),
        ("Failed", stats.failed, "error"),
        ("Live now", stats.live, "live"),
    ];
    let href = |tone: &str| match tone {
        "all" => "/dashboard/calls",
        "live" => "/dashboard/calls?status=live",
        _ => "/dashboard/calls?status=ended",
    };
    view! {
        <dl class="stats">
            {tiles.into_iter().map(|(label, n, tone)| view! {
                <div class=format!("stat stat-{tone}") data-stat=label>
                    <dt>{label}</dt>
                    <dd><a href=href(tone)>{n}</a></dd>
                </div>
            }).collect_view()}
        </dl>
        <h3 class="chart-title">"Calls in the last 7 days (UTC)"</h3>
        <div class="chart" data-testid="call-chart" inner_html=week_chart(&stats.days)></div>
    }
}

/// The 7-day bar chart as inline SVG, drawn on the server: one bar per day, labelled with
/// its weekday, the count on hover (`<title>`) and for screen readers.
pub fn week_chart(days: &[DayCount]) -> String {
    const SLOT: u64 = 56;
    const BAR: u64 = 32;
    const TOP: u64 = 18;
    const HEIGHT: u64 = 110;
    let max = days.iter().map(|d| d.calls).max().unwrap_or(0).max(1);
    let width = SLOT * days.len().max(1) as u64;
    let base = TOP + HEIGHT;
    let total: u64 = days.iter().map(|d| d.calls).sum();
    let mut svg = format!(
        "<svg class=\"chart-svg\" viewBox=\"0 0 {width} {}\" role=\"img\" aria-label=\"{total} calls in the last 7 days\" xmlns=\"http://www.w3.org/2000/svg\">",
        base + 24
    );
    svg.push_str(&format!(
        "<line class=\"chart-axis\" x1=\"0\" y1=\"{base}\" x2=\"{width}\" y2=\"{base}\"/>"
    ));
    for (i, d) in days.iter().enumerate() {
        let h = if d.calls == 0 {
            0
        } else {
            (d.calls * HEIGHT / max).max(2)
        };
        let x = i as u64 * SLOT + (SLOT - BAR) / 2;
        let center = i as u64 * SLOT + SLOT / 2;
        let plural = if d.calls == 1 { "call" } else { "calls" };
        let (weekday, date) = (
            crate::escape::markup(&d.weekday),
            crate::escape::markup(&d.date),
        );
        svg.push_str(&format!(
            "<g class=\"chart-day\" data-date=\"{date}\"><title>{weekday} {date}: {n} {plural}</title>\
             <rect class=\"chart-hit\" x=\"{slot_x}\" y=\"0\" width=\"{SLOT}\" height=\"{base}\"/>\
             <rect class=\"chart-bar\" x=\"{x}\" y=\"{y}\" width=\"{BAR}\" height=\"{h}\" rx=\"3\"/>\
             <text class=\"chart-value\" x=\"{center}\" y=\"{vy}\" text-anchor=\"middle\">{n}</text>\
             <text class=\"chart-label\" x=\"{center}\" y=\"{ly}\" text-anchor=\"middle\">{weekday}</text></g>",
            n = d.calls,
            slot_x = i as u64 * SLOT,
            y = base - h,
            vy = base - h - 4,
            ly = base + 17,
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <main class="auth-page">
            <section class="error-page">
                <p class="error-code">"404"</p>
                <h1>"This page does not exist"</h1>
                <p>"The address may be mistyped, or the page has moved."</p>
                <a class="button button-primary" href="/dashboard">"Go to the dashboard"</a>
            </section>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_week_chart_has_a_bar_per_day_with_its_count_on_hover() {
        let days: Vec<DayCount> = (0..7)
            .map(|i| DayCount {
                date: format!("2026-11-{:02}", 16 + i),
                weekday: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i].to_string(),
                calls: [0, 1, 4, 0, 2, 0, 8][i] as u64,
            })
            .collect();
        let svg = week_chart(&days);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("class=\"chart-bar\"").count(), 7);
        assert!(svg.contains("<title>Sun 2026-11-22: 8 calls</title>"));
        assert!(svg.contains("<title>Tue 2026-11-17: 1 call</title>"));
        assert!(svg.contains("aria-label=\"15 calls in the last 7 days\""));
        // The busiest day fills the height; an empty day draws nothing.
        assert!(svg.contains("y=\"18\" width=\"32\" height=\"110\""));
        assert!(svg.contains("height=\"0\""));
    }
}
