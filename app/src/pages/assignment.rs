//! A number's assistant: assign, reassign and unassign as provisioning runs shown step by
//! step, retry or roll back a failed run, test the inbound route, and the run history.
//!
//! With JavaScript the page follows a running run by polling; without it the form post
//! waits for the run (up to 20 s) and the page shows the outcome, or a refresh link.

use crate::{
    components::{action_outcome, icons, ErrorBanner, Loading},
    error::AppError,
    functions::assignment::{
        get_number_routing, AssignNumber, EnableTrunkTransfers, RetryRun, RollBackRun,
        TestInboundRoute, UnassignNumber,
    },
    model::{
        format_time, RouteCheck, Routing, RunKind, RunStatus, RunView, StepAction, StepStatus,
        StepView, TransferBlock,
    },
};
use leptos::{form::ActionForm, prelude::*};

/// The actions and the data of the assignment card. They are created by the number page,
/// outside the Suspense that renders the card (a resource created inside a Suspense's
/// children is created anew each time the server re-checks them, which can keep the server
/// render waiting: leptos #4866), and so the page's other cards refresh when a run changes
/// the number.
#[derive(Clone, Copy)]
pub struct AssignmentActions {
    pub assign: ServerAction<AssignNumber>,
    pub unassign: ServerAction<UnassignNumber>,
    pub retry: ServerAction<RetryRun>,
    pub roll_back: ServerAction<RollBackRun>,
    pub test: ServerAction<TestInboundRoute>,
    pub enable_transfers: ServerAction<EnableTrunkTransfers>,
    /// Bumped while a run is followed, to refetch `routing`.
    tick: RwSignal<u32>,
    pub routing: Resource<Result<Routing, AppError>>,
}

impl AssignmentActions {
    pub fn new(number_id: impl Fn() -> String + Copy + Send + Sync + 'static) -> Self {
        let assign = ServerAction::new();
        let unassign = ServerAction::new();
        let retry = ServerAction::new();
        let roll_back = ServerAction::new();
        let test = ServerAction::<TestInboundRoute>::new();
        let enable_transfers = ServerAction::<EnableTrunkTransfers>::new();
        let tick = RwSignal::new(0u32);
        // A run moved on this or (PostgreSQL) another instance: read the routing again.
        let runs = crate::components::use_live_changes(&["run"]);
        let changes = move || {
            runs.get() as usize
                + assign.version().get()
                + unassign.version().get()
                + retry.version().get()
                + roll_back.version().get()
                + enable_transfers.version().get()
        };
        let routing = Resource::new(
            move || (number_id(), changes(), tick.get(), test.version().get()),
            |(id, _, _, _)| get_number_routing(id),
        );
        AssignmentActions {
            assign,
            unassign,
            retry,
            roll_back,
            test,
            enable_transfers,
            tick,
            routing,
        }
    }

    /// Changes whenever any of the run actions completes.
    pub fn version(&self) -> usize {
        self.assign.version().get()
            + self.unassign.version().get()
            + self.retry.version().get()
            + self.roll_back.version().get()
    }

    fn pending(&self) -> bool {
        self.assign.pending().get()
            || self.unassign.pending().get()
            || self.retry.pending().get()
            || self.roll_back.pending().get()
    }
}

fn step_icon(status: StepStatus) -> AnyView {
    match status {
        StepStatus::Done => {
            view! { <span class="step-icon step-done" aria-hidden="true">{icons::check()}</span> }
                .into_any()
        }
        StepStatus::Failed => {
            view! { <span class="step-icon step-failed" aria-hidden="true">"!"</span> }.into_any()
        }
        StepStatus::Running => {
            view! { <span class="step-icon step-running" aria-hidden="true"></span> }.into_any()
        }
        StepStatus::RolledBack => {
            view! { <span class="step-icon step-rolled" aria-hidden="true">"↺"</span> }.into_any()
        }
        StepStatus::Skipped => {
            view! { <span class="step-icon step-skipped" aria-hidden="true">"–"</span> }.into_any()
        }
        StepStatus::Waiting => {
            view! { <span class="step-icon step-waiting" aria-hidden="true"></span> }.into_any()
        }
    }
}

fn status_words(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Done => "done",
        StepStatus::Failed => "failed",
        StepStatus::Running => "running",
        StepStatus::RolledBack => "rolled back",
        StepStatus::Skipped => "skipped",
        StepStatus::Waiting => "waiting",
    }
}

/// What a step did, as its badge says it; nothing for a step that changed nothing.
fn action_words(action: StepAction) -> Option<&'static str> {
    match action {
        StepAction::Created => Some("created"),
        StepAction::Adopted => Some("adopted"),
        StepAction::Updated => Some("updated"),
        StepAction::Deleted => Some("deleted"),
        StepAction::Checked | StepAction::Nothing => None,
    }
}

fn run_title(run: &RunView) -> String {
    match (run.kind, &run.assistant, &run.previous_assistant) {
        (RunKind::Unassign, _, _) => "Unassign".to_string(),
        (RunKind::Assign, Some(a), Some(p)) if a != p => format!("Reassign from {p} to {a}"),
        (RunKind::Assign, Some(a), _) => format!("Assign to {a}"),
        (RunKind::Assign, None, _) => "Assign".to_string(),
    }
}

fn run_badge(status: RunStatus) -> AnyView {
    let (class, label) = match status {
        RunStatus::Done => ("badge badge-ok", "Done"),
        RunStatus::Failed => ("badge badge-error", "Failed"),
        RunStatus::Running => ("badge", "Running"),
        RunStatus::RollingBack => ("badge", "Rolling back"),
        RunStatus::RolledBack => ("badge badge-muted", "Rolled back"),
    };
    view! { <span class=class>{label}</span> }.into_any()
}

#[component]
fn Steps(steps: Vec<StepView>) -> impl IntoView {
    view! {
        <ol class="steps">
            {steps.into_iter().map(|s| {
                let status = s.status;
                let words = status_words(status);
                let action = s.action.and_then(action_words);
                view! {
                    <li class=format!("step step-{}", status.as_str()) data-step=s.name.as_str()>
                        {step_icon(status)}
                        <div class="step-body">
                            <div class="step-title">
                                <span>{format!("{}. {}", s.position, s.title)}</span>
                                <span class="step-status">{words}</span>
                            </div>
                            {s.error.clone().map(|e| view! { <p class="step-error">{e}</p> })}
                            {(s.detail.is_some() || s.provider_id.is_some()).then(|| view! {
                                <p class="step-detail">
                                    {action.map(|a| view! { <span class="badge badge-muted">{a}</span> " " })}
                                    {s.provider_id.clone().map(|id| view! { <code>{id}</code> " " })}
                                    {s.detail.clone()}
                                </p>
                            })}
                        </div>
                    </li>
                }
            }).collect_view()}
        </ol>
    }
}

/// The number's assistant and its provisioning, as a card on the number's page.
#[component]
pub fn AssignmentSection(number_id: String, actions: AssignmentActions) -> impl IntoView {
    let test = actions.test;
    let routing = actions.routing;
    let tick = actions.tick;
    // Follow a running run (only in the browser; the server render is a snapshot).
    let (following, set_following) = signal(false);
    Effect::new(move |_| {
        let running = routing
            .get()
            .and_then(|r| r.ok())
            .and_then(|r| r.current)
            .is_some_and(|run| run.status.is_moving());
        set_following.set(running || actions.pending());
    });
    Effect::new(move |_| {
        if following.get() {
            set_timeout(
                move || tick.update(|t| *t += 1),
                std::time::Duration::from_millis(500),
            );
        }
        tick.track();
    });
    view! {
        <section class="card" aria-labelledby="assistant-title" id="assistant">
            <h2 id="assistant-title">"Assistant"</h2>
            {action_outcome(actions.assign.value(), "Assignment finished.")}
            {action_outcome(actions.unassign.value(), "Unassignment finished.")}
            {action_outcome(actions.retry.value(), "Retried.")}
            {action_outcome(actions.roll_back.value(), "Rolled back.")}
            {action_outcome(actions.enable_transfers.value(), "Transfers turned on at the Twilio trunk.")}
            <Transition fallback=|| view! { <Loading/> }>
                {
                    let number_id = number_id.clone();
                    move || {
                        let number_id = number_id.clone();
                        Suspend::new(async move {
                            match routing.await {
                                Err(e) => view! { <ErrorBanner message=e.to_string()/> }.into_any(),
                                Ok(r) => view! { <RoutingView routing=r number_id actions test/> }.into_any(),
                            }
                        })
                    }
                }
            </Transition>
        </section>
    }
}

#[component]
fn RoutingView(
    routing: Routing,
    number_id: String,
    actions: AssignmentActions,
    test: ServerAction<TestInboundRoute>,
) -> impl IntoView {
    let number = routing.number.clone();
    let open = routing.current.as_ref().is_some_and(RunView::is_open);
    let running = routing
        .current
        .as_ref()
        .is_some_and(|r| r.status.is_moving());
    let assigned = number.assistant_id.is_some();
    let assistant_link = number.assistant_id.clone().map(|id| {
        let name = number.assistant.clone().unwrap_or_default();
        view! { <a href=format!("/dashboard/assistants/{id}")>{name}</a> }
    });
    let facts = view! {
        <dl class="facts">
            <dt>"Answered by"</dt>
            <dd data-testid="number-assistant">{assistant_link.map(|l| l.into_any()).unwrap_or_else(|| view! { <span class="muted">"No assistant"</span> }.into_any())}</dd>
            {routing.inbound_trunk_id.clone().map(|id| view! { <dt>"LiveKit inbound trunk"</dt><dd><code>{id}</code></dd> })}
            {routing.dispatch_rule_id.clone().map(|id| view! { <dt>"Dispatch rule"</dt><dd><code>{id}</code></dd> })}
            {routing.outbound_trunk_id.clone().map(|id| view! { <dt>"LiveKit outbound trunk"</dt><dd><code>{id}</code></dd> })}
            {routing.twilio_trunk_sid.clone().map(|id| view! { <dt>"Twilio trunk"</dt><dd><code>{id}</code></dd> })}
        </dl>
    };
    let current = routing
        .current
        .clone()
        .map(|run| view! { <CurrentRun run actions/> });
    let assign_form = (!open).then(|| {
        let options = routing.assistants.clone();
        let has_options = !options.is_empty();
        let current_assistant = number.assistant_id.clone();
        let label = if assigned { "Reassign" } else { "Assign" };
        let number_id = number_id.clone();
        if !has_options {
            return view! {
                <p class="muted">"No assistant can take this number yet. "
                    <a href="/dashboard/assistants">"Create an assistant"</a>
                    " for the number's owner first."</p>
            }
            .into_any();
        }
        view! {
            <ActionForm action=actions.assign attr:class="inline-form">
                <input type="hidden" name="number_id" value=number_id/>
                <div class="field">
                    <label for="assign-assistant">{if assigned { "Move to assistant" } else { "Assistant" }}</label>
                    <select id="assign-assistant" name="assistant_id">
                        {options.into_iter().map(|a| {
                            let selected = current_assistant.as_deref() == Some(a.id.as_str());
                            view! { <option value=a.id selected=selected>{a.name}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <button class="button button-primary" type="submit" disabled=move || actions.assign.pending().get()>
                    {move || if actions.assign.pending().get() { "Working…" } else { label }}
                </button>
            </ActionForm>
        }
        .into_any()
    });
    let unassign_form = (assigned && !open).then(|| {
        let number_id = number_id.clone();
        let prompt = format!(
            "Unassign {}? Calls to the number will be rejected until it is assigned again.",
            number.e164
        );
        view! {
            <details class="confirm">
                <summary class="button button-danger-outline">"Unassign…"</summary>
                <ActionForm action=actions.unassign>
                    <input type="hidden" name="number_id" value=number_id/>
                    <p>{prompt}</p>
                    <button class="button button-danger" type="submit">"Unassign the number"</button>
                </ActionForm>
            </details>
        }
    });
    let test_form = (assigned && !open).then(|| {
        let number_id = number_id.clone();
        view! {
            <ActionForm action=test attr:class="inline-form">
                <input type="hidden" name="number_id" value=number_id/>
                <button class="button button-secondary" type="submit" disabled=move || test.pending().get()>
                    {move || if test.pending().get() { "Testing…" } else { "Test inbound route" }}
                </button>
            </ActionForm>
            {move || test.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBanner message=e.to_string()/> })}
        }
    });
    let transfers = routing.transfer_block.clone().map(|block| {
        let number_id = number_id.clone();
        view! { <TransfersOff block number_id action=actions.enable_transfers/> }
    });
    let history = routing.history.clone();
    let last_check = routing
        .last_route_check
        .clone()
        .filter(|_| assigned && !open)
        .map(|check| view! { <RouteResult check/> });
    view! {
        {facts}
        {current}
        {running.then(|| view! {
            <p class="muted small">"Still running. " <a href=format!("/dashboard/phone-numbers/{}#assistant", number_id)>"Refresh"</a> " to see the latest steps."</p>
        })}
        <div class="actions-row">
            {assign_form}
            {test_form}
        </div>
        {transfers}
        {last_check}
        {unassign_form}
        {(!history.is_empty()).then(|| view! { <History runs=history/> })}
    }
}

/// The number's Twilio trunk refuses transfers: the warning, and for administrators the
/// one-click fix (confirmed first; a plain form post without JavaScript).
#[component]
fn TransfersOff(
    block: TransferBlock,
    number_id: String,
    action: ServerAction<EnableTrunkTransfers>,
) -> impl IntoView {
    let prompt = format!(
        "Set Call Transfer on Twilio trunk {} to “enable-all”? Calls on every number of the trunk can then be transferred to phone numbers and SIP addresses; Twilio bills the transferred call's new leg to your account.",
        block.trunk_sid
    );
    view! {
        <div class="banner banner-warning" role="status" id="transfers" data-testid="transfers-off">
            <span><strong>"Calls on this number cannot be transferred. "</strong>{block.message.clone()}</span>
        </div>
        {block.can_enable.then(|| view! {
            <details class="confirm" data-testid="enable-transfers">
                <summary class="button button-secondary">"Turn on transfers…"</summary>
                <ActionForm action=action>
                    <input type="hidden" name="number_id" value=number_id/>
                    <p>{prompt}</p>
                    <button class="button button-primary" type="submit" disabled=move || action.pending().get()>
                        "Turn on transfers"
                    </button>
                </ActionForm>
            </details>
        })}
    }
}

#[component]
fn CurrentRun(run: RunView, actions: AssignmentActions) -> impl IntoView {
    let failed = run.status == RunStatus::Failed;
    let heading = run_title(&run);
    let when = format!(
        "started {}{}{}",
        format_time(run.started_at),
        run.actor
            .clone()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default(),
        run.wall_ms
            .map(|ms| format!(" · took {ms} ms"))
            .unwrap_or_default()
    );
    let failure = failed.then(|| {
        let reason = match run.failed_step() {
            Some((n, s)) => format!("Failed at step {n}: {}", s.error.clone().unwrap_or_default()),
            None => run.error.clone().unwrap_or_else(|| "The run failed.".into()),
        };
        let (retry_id, back_id) = (run.id.clone(), run.id.clone());
        let can_roll_back = run.kind == RunKind::Assign;
        view! {
            <div class="banner banner-error run-failure" role="alert">
                <span>{reason}</span>
            </div>
            <div class="actions-row">
                <ActionForm action=actions.retry attr:class="inline-form">
                    <input type="hidden" name="run_id" value=retry_id/>
                    <button class="button button-primary" type="submit">"Retry"</button>
                </ActionForm>
                {can_roll_back.then(|| view! {
                    <details class="confirm">
                        <summary class="button button-danger-outline">"Roll back…"</summary>
                        <ActionForm action=actions.roll_back>
                            <input type="hidden" name="run_id" value=back_id/>
                            <p>"Delete what this run created at Twilio and LiveKit, and restore what it changed? Objects it found and reused stay."</p>
                            <button class="button button-danger" type="submit">"Roll back the run"</button>
                        </ActionForm>
                    </details>
                })}
            </div>
        }
    });
    view! {
        <div class="run" data-run-status=run.status.as_str()>
            <div class="run-head">
                <h3>{heading}</h3>
                {run_badge(run.status)}
            </div>
            <p class="muted small">{when}</p>
            <Steps steps=run.steps.clone()/>
            {failure}
        </div>
    }
}

#[component]
fn RouteResult(check: RouteCheck) -> impl IntoView {
    let class = if check.ok {
        "route-check route-ok"
    } else {
        "route-check route-failed"
    };
    view! {
        <div class=class role="status" data-testid="route-check">
            <p><strong>{if check.ok { "Route test passed" } else { "Route test failed" }}</strong>" — "{check.summary.clone()}" "<span class="muted small">{format_time(check.at)}</span></p>
            <ul>
                {check.checks.into_iter().map(|(ok, text)| view! {
                    <li class=if ok { "ok" } else { "bad" }>{if ok { "✓ " } else { "✗ " }}{text}</li>
                }).collect_view()}
            </ul>
            {(!check.simulated).then(|| view! { <p class="muted small">"Checked LiveKit's configuration only: Dial cannot place a real call."</p> })}
        </div>
    }
}

#[component]
fn History(runs: Vec<RunView>) -> impl IntoView {
    view! {
        <h3 class="history-title">"Provisioning history"</h3>
        <ul class="history">
            {runs.into_iter().map(|run| {
                let title = run_title(&run);
                let when = format_time(run.started_at);
                let steps = run.steps.clone();
                let who = run.actor.clone().map(|a| format!(" · {a}")).unwrap_or_default();
                view! {
                    <li>
                        <details>
                            <summary>
                                {run_badge(run.status)}" "{title}
                                <span class="muted small">{format!(" · {when}{who}")}</span>
                            </summary>
                            <Steps steps/>
                        </details>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
