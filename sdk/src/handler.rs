//! The one trait a service implements: an async function from a [`JobContext`] to an
//! [`Outcome`], shared by the gRPC and HTTP integrations.

use std::future::Future;
use std::sync::Arc;

use crate::context::{JobContext, Outcome};

/// Runs one call of a job.
///
/// Implement it on your own type when the handler holds state, or wrap an async function or
/// closure with [`handler_fn`]:
///
/// ```
/// use crony_sdk::{Handler, JobContext, Outcome, async_trait};
///
/// struct Settle {
///     ledger: String,
/// }
///
/// #[async_trait]
/// impl Handler for Settle {
///     async fn handle(&self, ctx: JobContext) -> Outcome {
///         Outcome::succeeded(format!("settled {} in {}", ctx.payload, self.ledger))
///     }
/// }
/// ```
///
/// A handler may be called concurrently (overlapping runs, retries, several jobs), and again
/// for the same execution on a retry: use [`JobContext::execution_id`] to deduplicate.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Runs the job once and says how it went.
    async fn handle(&self, ctx: JobContext) -> Outcome;
}

#[async_trait::async_trait]
impl<H: Handler + ?Sized> Handler for Arc<H> {
    async fn handle(&self, ctx: JobContext) -> Outcome {
        (**self).handle(ctx).await
    }
}

#[async_trait::async_trait]
impl<H: Handler + ?Sized> Handler for Box<H> {
    async fn handle(&self, ctx: JobContext) -> Outcome {
        (**self).handle(ctx).await
    }
}

/// A [`Handler`] made from an async function or closure; see [`handler_fn`].
#[derive(Clone)]
pub struct HandlerFn<F> {
    f: F,
}

impl<F> std::fmt::Debug for HandlerFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandlerFn")
    }
}

/// Makes a [`Handler`] of an async function or closure taking a [`JobContext`].
///
/// ```
/// use crony_sdk::{JobContext, Outcome, handler_fn};
///
/// async fn reconcile(ctx: JobContext) -> Outcome {
///     Outcome::succeeded(format!("reconciled attempt {}", ctx.attempt))
/// }
///
/// let from_fn = handler_fn(reconcile);
/// let from_closure = handler_fn(|ctx: JobContext| async move {
///     Outcome::succeeded(ctx.payload)
/// });
/// # let _ = (from_fn, from_closure);
/// ```
pub fn handler_fn<F, Fut>(f: F) -> HandlerFn<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    HandlerFn { f }
}

#[async_trait::async_trait]
impl<F, Fut> Handler for HandlerFn<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    async fn handle(&self, ctx: JobContext) -> Outcome {
        (self.f)(ctx).await
    }
}
