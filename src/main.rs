//! `dial`: reads settings, starts logging, and runs the chosen command.

use clap::Parser;
use std::time::Duration;

fn main() -> std::process::ExitCode {
    // A .env file next to where Dial runs is optional; real variables win over it.
    let _ = dotenvy::dotenv();
    if let Err(e) = dial::telemetry::init() {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = dial::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dial::cli::run(cli));
    // Background work (reconcile, a blocking hash) gets a moment, never an unbounded wait.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
