//! The pages as lazy routes: each page's code (its view, the server functions it calls,
//! the model types it reads) is cut out of the main WASM by `scripts/build`
//! (wasm-split-cli) into a chunk the browser loads when the page is shown, so the first
//! page a user opens does not carry the thirty others. The server renders them as before.
//!
//! A route here only names its page: the page loads its own data (resources) once its
//! chunk is in, as every page did before splitting. The overview has an area of its own,
//! so the dashboard a user lands on after signing in carries no other page.

use crate::pages::{
    api_keys::ApiKeysPage,
    assistants::{AssistantPage, AssistantsPage},
    audit::AuditPage,
    auth::{LoginPage, SetupPage},
    calls::{BrowserCallPage, CallPage, CallsPage},
    campaigns::{CampaignPage, CampaignsPage, NewCampaignPage, UploadPreviewPage},
    carriers::CarriersPage,
    dashboard::OverviewPage,
    do_not_call::DoNotCallPage,
    event_hooks::{WebhookEndpointPage, WebhooksPage},
    health::{DriftPage, SetupCheckPage},
    livekit_settings::LiveKitPage,
    numbers::{BuyNumberPage, ImportNumbersPage, NumberPage, PhoneNumbersPage},
    routing::RoutingProfilesPage,
    sandbox::SandboxPage,
    settings::{SettingsIndex, SettingsLayout},
    twilio_settings::TwilioPage,
    users::UsersPage,
};
use leptos::prelude::*;
use leptos_router::LazyRoute;

/// The pages, grouped into areas: each area is one split point (`#[lazy]`), so its pages
/// share one chunk and the code they have in common is not cut into many small chunks
/// (split per page, the calls page loaded 256 chunks). A page's route asks its area for it;
/// `area / __preload_area` names the area's function and the preloader `#[lazy]` makes.
macro_rules! areas {
    ($($area:ident / $preload:ident { $($route:ident => $page:ident),* $(,)? })*) => {
        /// Which page of its area a route shows.
        #[derive(Clone, Copy)]
        enum Which {
            $($($page,)*)*
        }

        $(
            #[lazy]
            fn $area(page: Which) -> AnyView {
                match page {
                    $(Which::$page => view! { <$page/> }.into_any(),)*
                    _ => ().into_any(),
                }
            }

            $(
                #[doc = concat!("The lazy route of [`", stringify!($page), "`] (in the `",
                    stringify!($area), "` chunk).")]
                pub struct $route;

                impl LazyRoute for $route {
                    fn data() -> Self {
                        $route
                    }

                    async fn view(_this: Self) -> AnyView {
                        $area(Which::$page).await
                    }

                    // The router awaits this before it shows (or hydrates) the route, so
                    // the view is there at once; `#[lazy]` makes the preloader (only in
                    // the browser build).
                    async fn preload() {
                        #[cfg(feature = "hydrate")]
                        $preload().await;
                    }
                }
            )*
        )*
    };
}

areas! {
    sign_in_area / __preload_sign_in_area {
        SetupRoute => SetupPage,
        LoginRoute => LoginPage,
    }
    overview_area / __preload_overview_area {
        OverviewRoute => OverviewPage,
    }
    health_area / __preload_health_area {
        SetupCheckRoute => SetupCheckPage,
        DriftRoute => DriftPage,
    }
    numbers_area / __preload_numbers_area {
        PhoneNumbersRoute => PhoneNumbersPage,
        BuyNumberRoute => BuyNumberPage,
        ImportNumbersRoute => ImportNumbersPage,
        NumberRoute => NumberPage,
        AssistantsRoute => AssistantsPage,
        AssistantRoute => AssistantPage,
    }
    calls_area / __preload_calls_area {
        CallsRoute => CallsPage,
        BrowserCallRoute => BrowserCallPage,
        CallRoute => CallPage,
    }
    campaigns_area / __preload_campaigns_area {
        CampaignsRoute => CampaignsPage,
        NewCampaignRoute => NewCampaignPage,
        CampaignRoute => CampaignPage,
        UploadPreviewRoute => UploadPreviewPage,
    }
    settings_area / __preload_settings_area {
        SettingsLayoutRoute => SettingsLayout,
        SettingsIndexRoute => SettingsIndex,
        ApiKeysRoute => ApiKeysPage,
        WebhooksRoute => WebhooksPage,
        WebhookEndpointRoute => WebhookEndpointPage,
        UsersRoute => UsersPage,
        TwilioRoute => TwilioPage,
        LiveKitRoute => LiveKitPage,
        RoutingProfilesRoute => RoutingProfilesPage,
        CarriersRoute => CarriersPage,
        DoNotCallRoute => DoNotCallPage,
        AuditRoute => AuditPage,
        SandboxRoute => SandboxPage,
    }
}
