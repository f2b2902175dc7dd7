//! `dial`: reads settings, starts logging, and runs the chosen command.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A .env file next to where Dial runs is optional; real variables win over it.
    let _ = dotenvy::dotenv();
    dial::telemetry::init();
    let cli = dial::cli::Cli::parse();
    match dial::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
