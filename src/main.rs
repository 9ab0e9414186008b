use clap::Parser;

use imgforge::cli::{Cli, Command};
use imgforge::config::{DEFAULTS_TOML, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref(), &cli.command.overrides())?;
    match cli.command {
        Command::Config { defaults: true } => print!("{DEFAULTS_TOML}"),
        Command::Config { defaults: false } => print!("{}", settings.to_redacted_toml()),
        Command::Models { action } => imgforge::models::cli::run(&settings, &action).await?,
        Command::Process(args) => imgforge::process::run(&settings, &args).await?,
        Command::Serve { .. } => {
            imgforge::telemetry::init(&settings.telemetry);
            let server = imgforge::server::start(settings).await?;
            let token = server.shutdown_token();
            tokio::spawn(async move {
                imgforge::server::termination_signal().await;
                tracing::info!("shutdown requested; draining requests in flight");
                token.cancel();
            });
            server.wait().await?;
            tracing::info!("stopped");
        }
    }
    Ok(())
}
