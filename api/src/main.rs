use std::process::ExitCode;

use api::{Application, Config};
use clap::Parser;
use slipstream_runtime::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let result = async { Application::build(config).await?.run_until_stopped().await }.await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "The api stopped on an error.");
            ExitCode::FAILURE
        }
    }
}
