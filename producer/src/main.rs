use std::process::ExitCode;

use clap::Parser;
use producer::{Application, Config};
use slipstream_runtime::{fatal, telemetry};

/// A request's records are parsed, serialised and handed to librdkafka, then freed, from
/// every runtime thread: glibc's allocator took about a third of the producer's time under
/// ingest (`_int_malloc`, `_int_free`, `malloc_consolidate`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    fatal::exit_code(async { Application::build(config).await?.run_until_stopped().await }.await)
}
