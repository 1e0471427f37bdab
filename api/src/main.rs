use std::process::ExitCode;

use api::{Application, Config};
use clap::Parser;
use slipstream_runtime::{fatal, telemetry};

/// The writer allocates and frees the rows of every group from one thread while the runtime
/// threads build them: glibc's allocator spent a tenth of the api's time in `_int_malloc` and
/// `_int_free` under ingest, and grew the heap it could not return.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    fatal::exit_code(async { Application::build(config).await?.run_until_stopped().await }.await)
}
