use clap::Parser;
use consumer::{Config, Mode};
use slipstream_runtime::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    match config.command {
        Some(Mode::Redrive) => consumer::redrive(&config).await.map(report),
        None => consumer::run(config).await,
    }
}

#[allow(clippy::print_stdout)] // The count is the command's answer.
fn report(moved: consumer::Redriven) {
    println!(
        "moved {} message(s) from {} to {}",
        moved.count, moved.from, moved.to
    );
}
