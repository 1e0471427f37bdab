use clap::Parser;
use consumer::Config;
use slipstream_runtime::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    consumer::run(config).await
}
