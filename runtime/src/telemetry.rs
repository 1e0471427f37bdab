use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for containers and log shippers.
    Json,
    /// Readable text, for a terminal.
    Pretty,
}

impl LogFormat {
    /// JSON unless a person is watching a terminal.
    pub fn detect() -> Self {
        if std::io::stdout().is_terminal() {
            Self::Pretty
        } else {
            Self::Json
        }
    }
}

/// Installs the global subscriber; `RUST_LOG` filters, `info` by default.
pub fn init(format: Option<LogFormat>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let result = match format.unwrap_or_else(LogFormat::detect) {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            // Every enclosing span, so a line logged deep inside a request still carries
            // the request's id.
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // A second call (tests building several apps in one process) keeps the first subscriber.
    if result.is_ok() {
        log_panics();
    }
}

/// Reports a panic as one error line in the log format, instead of the standard library's
/// text on stderr, which a log shipper reading JSON lines would mangle.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = crate::fatal::panic_message(info.payload());
        let location = info
            .location()
            .map(|at| format!("{}:{}", at.file(), at.line()))
            .unwrap_or_default();
        tracing::error!(panic = message, %location, "Panicked.");
    }));
}
