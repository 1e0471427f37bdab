use clap::Parser;
use producer::{Application, Config};
use slipstream_runtime::telemetry;

/// A request's records are parsed, serialised and handed to librdkafka, then freed, from
/// every runtime thread: glibc's allocator took about a third of the producer's time under
/// ingest (`_int_malloc`, `_int_free`, `malloc_consolidate`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let app = Application::build(config).await?;
    app.run_until_stopped().await
}
