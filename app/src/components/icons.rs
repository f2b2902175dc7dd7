//! Inline SVG icons (stroke icons in the style of Lucide, drawn for Dial).

use leptos::prelude::*;

macro_rules! icon {
    ($name:ident, $($path:literal),+) => {
        pub fn $name() -> AnyView {
            view! {
                <svg class="icon" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor"
                    stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
                    $(<path d=$path/>)+
                </svg>
            }
            .into_any()
        }
    };
}

icon!(phone, "M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1 1 .4 1.9.7 2.8a2 2 0 0 1-.5 2.1L8 9.9a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.8.7a2 2 0 0 1 1.7 2z");
icon!(
    bot,
    "M12 8V4H8",
    "M4 8h16v12H4z",
    "M2 14h2",
    "M20 14h2",
    "M15 13v2",
    "M9 13v2"
);
icon!(activity, "M22 12h-4l-3 9L9 3l-3 9H2");
icon!(settings, "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z");
icon!(home, "M3 10.5 12 3l9 7.5", "M5 9.5V21h14V9.5");
icon!(
    users,
    "M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2",
    "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
    "M22 21v-2a4 4 0 0 0-3-3.9",
    "M16 3.1a4 4 0 0 1 0 7.8"
);
icon!(shield, "M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z");
icon!(
    list,
    "M8 6h13",
    "M8 12h13",
    "M8 18h13",
    "M3 6h.01",
    "M3 12h.01",
    "M3 18h.01"
);
icon!(
    plug,
    "M12 22v-5",
    "M9 8V2",
    "M15 8V2",
    "M18 8v5a6 6 0 0 1-12 0V8z"
);
icon!(
    radio,
    "M4.9 19.1a10 10 0 0 1 0-14.2",
    "M7.8 16.2a6 6 0 0 1 0-8.4",
    "M12 12h.01",
    "M16.2 7.8a6 6 0 0 1 0 8.4",
    "M19.1 4.9a10 10 0 0 1 0 14.2"
);
icon!(
    alert,
    "M12 9v4",
    "M12 17h.01",
    "M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z"
);
icon!(check, "M20 6 9 17l-5-5");
icon!(
    logout,
    "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4",
    "M16 17l5-5-5-5",
    "M21 12H9"
);
icon!(lock, "M5 11h14v10H5z", "M8 11V7a4 4 0 0 1 8 0v4");
icon!(
    info,
    "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z",
    "M12 16v-4",
    "M12 8h.01"
);
