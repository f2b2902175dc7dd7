//! The `dial` server binary's library: command line, start-up and the HTTP router.
//! Tests start the real application on port 0 through [`startup::Application`].

pub mod api_v1;
pub mod assets;
pub mod cli;
pub mod doctor;
pub mod events;
pub mod headers;
pub mod metrics;
pub mod router;
pub mod startup;
pub mod telemetry;

/// The allocator of every binary built on this library (the server, its tests and
/// benches): jemalloc. With glibc's malloc, allocation (`malloc`, `_int_free`,
/// `malloc_consolidate`) was about a tenth of the machine's CPU in the webhooks
/// benchmark; the built binary took 8,683 events/s on average with it and 10,317 with
/// jemalloc (five runs each, alternating), for 1.5 MB more memory of its own when idle.
/// mimalloc took 10,712 but kept 16 MB more (a page per size class per thread). README,
/// "Calls".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
