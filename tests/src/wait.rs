//! Waiting on conditions with deadlines instead of sleeping and hoping.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Polls `check` every 50 ms until it returns `Some`, or fails after `within` saying `what`
/// was not reached (with the last state seen).
pub async fn wait_until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => "condition not met".to_owned(),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            anyhow::bail!("{what}: not reached within {within:?} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
