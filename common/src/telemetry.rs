//! Logging through `tracing`: `RUST_LOG` filters, plain text or JSON lines.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

pub fn parse_log_format(raw: &str) -> Result<LogFormat, String> {
    match raw {
        "plain" | "text" => Ok(LogFormat::Plain),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("{raw:?} is not a log format (plain or json)")),
    }
}

/// Installs the global subscriber once; later calls (several in-process servers in one test
/// binary) keep the first one.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
