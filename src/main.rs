use std::time::Duration;

use clap::Parser;

use imgforge::cli::{Cli, Command};
use imgforge::config::{DEFAULTS_TOML, Settings};

/// How long leftover work may take to notice the runtime is going away once the grace period
/// is over; blocking image jobs still running then are abandoned with the process.
const ABANDON_AFTER: Duration = Duration::from_millis(500);

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(run(Cli::parse()));
    // Dropping the runtime would wait for every blocking thread, i.e. for CPU work the grace
    // period already gave up on.
    runtime.shutdown_timeout(ABANDON_AFTER);
    result
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), &cli.command.overrides())?;
    match cli.command {
        Command::Config { defaults: true } => print!("{DEFAULTS_TOML}"),
        Command::Config { defaults: false } => print!("{}", settings.to_redacted_toml()),
        Command::Models { action } => imgforge::cli::models::run(&settings, &action).await?,
        Command::Process(args) => imgforge::process::run(&settings, &args).await?,
        Command::Serve { .. } => {
            // Held until exit: dropping it sends the last batched spans.
            let _tracing = imgforge::telemetry::init(&settings.telemetry)?;
            let server = imgforge::server::start(settings).await?;
            let token = server.shutdown_token();
            tokio::spawn(async move {
                imgforge::server::termination_signal().await;
                tracing::info!(
                    "shutdown requested; health is NOT_SERVING, draining requests in flight"
                );
                token.cancel();
            });
            server.wait().await?;
            tracing::info!("stopped");
        }
    }
    Ok(())
}
