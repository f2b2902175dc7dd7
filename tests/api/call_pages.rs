//! The calls pages as a browser without JavaScript gets them: the list with its filters and
//! the "Place a call" form, a call's page with its controls and timeline, the forms' posts
//! (place, transfer, hang-up) landing back on the pages, and the overview's counts. Owners
//! see their own calls only. Against the sandbox's Twilio and LiveKit.

use crate::{
    assignment::{
        assign, fakes, insert_assistant, lift_call_rate_limits, provisioning_app, twilio_number,
        user_id,
    },
    helpers::*,
};
use dial_app::{
    error::AppError,
    model::{CallDetail, CallRow, CallStats, CallStatus, NumberRow},
};
use dial_fakes::livekit::CallOutcome;
use reqwest::StatusCode;

/// Posts a form the way a browser without JavaScript does; returns the redirect's path.
async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    endpoint: &str,
    referer: &str,
    form: &[(&str, &str)],
) -> String {
    let response = client
        .post(app.url(&format!("/api/{endpoint}")))
        .header("accept", "text/html")
        .header("referer", app.url(referer))
        .form(form)
        .send()
        .await
        .expect("post");
    assert!(
        response.status().is_redirection(),
        "{endpoint}: {}",
        response.status()
    );
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    location.trim_start_matches(&app.address).to_string()
}

/// Puts `e164` in Dial, gives it to `owner_id` and assigns it to a new assistant of theirs.
async fn assigned_number(app: &TestApp, owner_id: &str, e164: &str, assistant: &str) -> String {
    let number = twilio_number(app, e164).await;
    let prefix = format!("{}-", assistant.to_lowercase());
    let assistant_id = insert_assistant(app, owner_id, assistant, "sales-agent", &prefix).await;
    if owner_id != user_id(app, ADMIN).await {
        let _: NumberRow = app
            .call(
                &app.client,
                "numbers/allot",
                &[("id", &number.id), ("owner_id", owner_id)],
            )
            .await
            .expect("allot");
    }
    assign(app, &app.client, &number.id, &assistant_id)
        .await
        .expect("assign");
    lift_call_rate_limits(app);
    number.id
}

/// Waits until the call reaches `status` (placing goes on in the background).
async fn settled(app: &TestApp, client: &reqwest::Client, id: &str, status: CallStatus) -> CallRow {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let detail: CallDetail = app
            .call(client, "calls/get", &[("id", id)])
            .await
            .expect("the call");
        // An ended call is settled once the dial's own outcome is recorded: LiveKit's
        // webhook may end the session (with its coarser reason) a moment before.
        let known = status != CallStatus::Ended
            || detail.call.answered_at.is_some()
            || detail.timeline.iter().any(|e| e.kind == "call.failed");
        if detail.call.status == status && known {
            return detail.call;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} stayed {:?}",
            detail.call.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn stats(app: &TestApp, client: &reqwest::Client) -> CallStats {
    app.call(client, "stats/calls", &[]).await.expect("stats")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_its_controls_and_its_timeline_render_and_work_without_javascript() {
    let app = provisioning_app().await;
    let admin = user_id(&app, ADMIN).await;
    let number = assigned_number(&app, &admin, "+14155550133", "Sales").await;

    let (status, _, list) = app.get_page(&app.client, "/dashboard/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("No calls yet"), "the empty state");
    assert!(
        list.contains("+1 (415) 555-0133 · Sales"),
        "callable number"
    );
    assert!(list.contains("name=\"wait_until_answered\""));

    // A refused call comes back with the message next to its field.
    let back = post_form(
        &app,
        &app.client,
        "calls/place",
        "/dashboard/calls",
        &[("number_id", &number), ("to", "555-0100")],
    )
    .await;
    assert!(back.contains("__err="), "{back}");
    let (_, _, refused) = app.get_page(&app.client, &back).await;
    assert!(
        refused.contains("field-to-error"),
        "the error is shown by the field"
    );

    // The form's post places the call and lands on its page.
    let landed = post_form(
        &app,
        &app.client,
        "calls/place",
        "/dashboard/calls",
        &[
            ("number_id", &number),
            ("to", "+14155550100"),
            // A browser sends the options left empty too.
            ("dtmf", ""),
            ("display_name", ""),
            ("ringing_timeout", ""),
            ("max_duration", ""),
            ("wait_until_answered", "on"),
        ],
    )
    .await;
    let id = landed
        .strip_prefix("/dashboard/calls/")
        .unwrap_or_else(|| panic!("lands on the call's page: {landed}"))
        .to_string();
    // It is followed as it goes on; here, until it is answered.
    let (_, _, dialing) = app.get_page(&app.client, &landed).await;
    assert!(
        dialing.contains("data-testid=\"call-controls\""),
        "controls while dialing"
    );
    let call = settled(&app, &app.client, &id, CallStatus::Answered).await;
    let sip_call_id = call.sip_call_id.clone().expect("LiveKit's call id");

    let (status, _, page) = app.get_page(&app.client, &landed).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Call to +1 (415) 555-0100"), "the heading");
    assert!(page.contains("data-status=\"answered\""), "the status");
    assert!(page.contains(&sip_call_id), "LiveKit's call id");
    assert!(
        page.contains(&format!("/dashboard/phone-numbers/{number}")),
        "the number links to its page"
    );
    assert!(
        page.contains("data-testid=\"call-controls\""),
        "controls while live"
    );
    assert!(page.contains("name=\"transfer_to\"") && page.contains("Hang up…"));
    assert!(page.contains("Refresh status"));
    for kind in ["call.requested", "call.created", "participant_joined"] {
        assert!(
            page.contains(&format!("data-kind=\"{kind}\"")),
            "{kind} in the timeline"
        );
    }

    // The list shows it, live, and the filters apply.
    let (_, _, list) = app.get_page(&app.client, "/dashboard/calls").await;
    assert!(list.contains(&format!("href=\"/dashboard/calls/{id}\"")));
    assert!(list.contains("call-live") && list.contains("data-status=\"answered\""));
    assert!(!list.contains("No calls yet"));
    let (_, _, live) = app
        .get_page(
            &app.client,
            "/dashboard/calls?status=live&direction=outbound",
        )
        .await;
    assert!(live.contains(&format!("data-call=\"{id}\"")));
    let (_, _, inbound) = app
        .get_page(&app.client, "/dashboard/calls?direction=inbound")
        .await;
    assert!(!inbound.contains(&format!("data-call=\"{id}\"")));
    assert!(inbound.contains("No calls match these filters."));

    // A bad transfer target: the message by the field.
    let back = post_form(
        &app,
        &app.client,
        "calls/transfer",
        &landed,
        &[("id", &id), ("transfer_to", "415-555-0199 ext 2")],
    )
    .await;
    assert!(back.contains("__err="), "{back}");
    let (_, _, refused) = app.get_page(&app.client, &back).await;
    assert!(refused.contains("field-transfer_to-error"));

    let today = stats(&app, &app.client).await;
    assert_eq!((today.today, today.live, today.completed), (1, 1, 0));

    // Hang up: the post comes back to the page, which has no controls any more.
    let back = post_form(&app, &app.client, "calls/hangup", &landed, &[("id", &id)]).await;
    assert_eq!(back.trim_end_matches('?'), landed);
    let (_, _, page) = app.get_page(&app.client, &landed).await;
    assert!(page.contains("data-status=\"ended\""));
    assert!(
        !page.contains("data-testid=\"call-controls\""),
        "no controls once ended"
    );
    assert!(!page.contains("name=\"transfer_to\""));
    assert!(page.contains("Completed"));
    assert!(page.contains("data-kind=\"call.hangup\""));
    let (_, _, list) = app.get_page(&app.client, "/dashboard/calls").await;
    assert!(!list.contains("call-live"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_today_by_outcome_and_owners_see_only_their_calls() {
    let app = provisioning_app().await;
    let (_, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = assigned_number(&app, &admin, "+14155550133", "Sales").await;
    let (owner, owner_id) = app.owner_client().await;
    let owners_number = assigned_number(&app, &owner_id, "+14155550134", "Desk").await;

    let (_, _, overview) = app.get_page(&app.client, "/dashboard").await;
    assert!(overview.contains("No calls yet"), "nothing to count yet");

    let place = |client: &reqwest::Client, number: &str, to: &str, status: CallStatus| {
        let client = client.clone();
        let (number, to) = (number.to_string(), to.to_string());
        let app = &app;
        async move {
            let placed = app
                .call::<CallRow>(
                    &client,
                    "calls/place",
                    &[
                        ("number_id", number.as_str()),
                        ("to", to.as_str()),
                        ("wait_until_answered", "on"),
                        ("ringing_timeout", "1"),
                    ],
                )
                .await
                .expect("placed");
            settled(app, &client, &placed.id, status).await
        }
    };
    let answered = place(&app.client, &number, "+14155550100", CallStatus::Answered).await;
    let _: CallRow = app
        .call(&app.client, "calls/hangup", &[("id", &answered.id)])
        .await
        .expect("hang up");
    livekit.set_outcome("+14155550101", CallOutcome::Busy);
    livekit.set_outcome("+14155550102", CallOutcome::NoAnswer);
    livekit.set_outcome("+14155550103", CallOutcome::Declined);
    livekit.set_outcome("+14155550104", CallOutcome::TrunkAuthFailure);
    for to in [
        "+14155550101",
        "+14155550102",
        "+14155550103",
        "+14155550104",
    ] {
        assert!(place(&app.client, &number, to, CallStatus::Ended)
            .await
            .answered_at
            .is_none());
    }
    let live = place(&app.client, &number, "+14155550105", CallStatus::Answered).await;
    let owners_call = place(&owner, &owners_number, "+14155550106", CallStatus::Answered).await;

    let all = stats(&app, &app.client).await;
    assert_eq!(all.today, 7, "{all:?}");
    assert_eq!(
        (
            all.completed,
            all.busy,
            all.no_answer,
            all.declined,
            all.failed,
            all.live
        ),
        (1, 1, 1, 1, 1, 2),
        "{all:?}"
    );
    assert_eq!(all.days.len(), 7);
    assert_eq!(
        all.days.last().map(|d| d.calls),
        Some(7),
        "today is the last bar"
    );
    assert!(all.days[..6].iter().all(|d| d.calls == 0));

    let mine = stats(&app, &owner).await;
    assert_eq!(
        (mine.today, mine.live, mine.completed),
        (1, 1, 0),
        "{mine:?}"
    );

    let (_, _, overview) = app.get_page(&app.client, "/dashboard").await;
    assert!(overview.contains("data-testid=\"call-chart\""));
    assert!(
        overview.contains("<svg"),
        "the chart is drawn on the server"
    );
    assert!(
        overview.contains(": 7 calls</title>"),
        "today's bar says its count"
    );
    assert!(overview.contains("data-stat=\"Live now\""));

    // The owner's pages: their call only; the admin's call is not found.
    let (_, _, list) = app.get_page(&owner, "/dashboard/calls").await;
    assert!(list.contains(&format!("data-call=\"{}\"", owners_call.id)));
    assert!(!list.contains(&format!("data-call=\"{}\"", answered.id)));
    let err = app
        .call::<CallDetail>(&owner, "calls/get", &[("id", &live.id)])
        .await
        .expect_err("another's call");
    assert!(matches!(err, AppError::NotFound { .. }), "{err:?}");
    let (status, _, page) = app
        .get_page(&owner, &format!("/dashboard/calls/{}", live.id))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("data-testid=\"call-controls\""));
    assert!(
        !page.contains("+1 (415) 555-0105"),
        "nothing of the call shows"
    );
    assert!(page.contains("Back to calls"));
    // The admin sees both.
    let (_, _, list) = app.get_page(&app.client, "/dashboard/calls").await;
    assert!(list.contains(&format!("data-call=\"{}\"", owners_call.id)));
    assert!(list.contains(&format!("data-call=\"{}\"", answered.id)));
}
