use std::process::ExitCode;

use clap::Parser;
use consumer::{Config, Mode};
use slipstream_runtime::{fatal, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    match config.command {
        Some(Mode::Redrive { force }) => fatal::command_exit(
            "consumer redrive",
            consumer::redrive(&config, force).await.and_then(report),
        ),
        None => fatal::exit_code(consumer::run(config).await),
    }
}

#[allow(clippy::print_stdout)] // The count is the command's answer.
fn report(moved: consumer::Redriven) -> anyhow::Result<()> {
    println!(
        "moved {} message(s) from {} to {}",
        moved.count, moved.from, moved.to
    );
    let Some(first) = moved.refused.first() else {
        return Ok(());
    };
    anyhow::bail!(
        "left {} partition(s) of {} from a message already redriven {} times on (first: partition {}, offset {}); fix the cause, or move them anyway with `consumer redrive --force`",
        moved.refused.len(),
        moved.from,
        first.redrives,
        first.partition,
        first.offset
    )
}
