//! Benchmark: the wall time of assigning a number when every provider call takes 100 ms.
//!
//!     cargo bench --bench assign_latency
//!
//! Starts the real application in sandbox mode (its Twilio and LiveKit fakes on loopback),
//! adds 100 ms to every request either fake answers, and assigns numbers one after another:
//! the first assignment also creates the account's Elastic SIP trunk; the others find it.
//! Prints each run's wall time, the provider requests it made, and the number of
//! sequential round trips the wall time allows (wall ÷ 100 ms) against the requests it
//! would take one after another.

mod support;

use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(100);
const NUMBERS: [&str; 6] = [
    "+14155550100",
    "+14155550101",
    "+14155550102",
    "+14155550103",
    "+14155550104",
    "+14155550105",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = support::Bench::start(|_| {}).await;
    let sandbox = &bench.sandbox;
    let ids = bench.add_numbers(&NUMBERS).await;

    sandbox.twilio.faults.set_latency(Some(LATENCY));
    sandbox.livekit.faults.set_latency(Some(LATENCY));
    println!(
        "assign with {} ms added to every provider request (SQLite):",
        LATENCY.as_millis()
    );
    let mut later = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        sandbox.twilio.faults.clear_requests();
        sandbox.livekit.faults.clear_requests();
        let started = Instant::now();
        // Assigns and checks the run is done (one local database read after the run).
        bench.assign(id).await;
        let wall = started.elapsed();
        let requests =
            sandbox.twilio.faults.requests().len() + sandbox.livekit.faults.requests().len();
        let round_trips = wall.as_millis() / LATENCY.as_millis();
        println!(
            "  {} {:<34} wall {:>5} ms   {:>2} provider requests ({:>4} ms one after another)   ≈ {round_trips} sequential round trips",
            NUMBERS[i],
            if i == 0 { "(creates the Twilio trunk)" } else { "(trunk exists)" },
            wall.as_millis(),
            requests,
            requests as u128 * LATENCY.as_millis(),
        );
        if i > 0 {
            later.push(wall);
        }
    }
    later.sort();
    println!(
        "  median over the {} assignments with an existing trunk: {} ms",
        later.len(),
        later[later.len() / 2].as_millis()
    );
}
