use clap::Parser;
use dummy_data::cli::{self, Cli};

fn main() -> anyhow::Result<()> {
    cli::run(Cli::parse(), &mut std::io::stdout().lock())
}
