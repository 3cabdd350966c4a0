//! Leader election: any number of schedulers campaign; one leads and alone places jobs.
//! A leadership carries its term (strictly increasing across leaders) and is lost — the
//! `lost` token cancelled — as soon as its lease is no longer certainly alive.

pub mod etcd;

use std::sync::Arc;

use crony_common::lease::Fence;
use tokio_util::sync::CancellationToken;

pub struct Leadership {
    pub term: u64,
    /// Cancelled when the leadership can no longer be trusted (lease lost or unconfirmed).
    pub lost: CancellationToken,
    pub fence: Arc<Fence>,
    resign: Box<dyn Resign + Sync>,
}

/// How a leadership is given up in the election backend.
#[async_trait::async_trait]
pub trait Resign: Send {
    async fn resign(self: Box<Self>);
}

impl Leadership {
    pub fn new(
        term: u64,
        lost: CancellationToken,
        fence: Arc<Fence>,
        resign: Box<dyn Resign + Sync>,
    ) -> Self {
        Self {
            term,
            lost,
            fence,
            resign,
        }
    }

    /// Whether the leader may act now.
    pub fn is_valid(&self) -> bool {
        !self.lost.is_cancelled() && self.fence.is_alive()
    }

    /// Gives up leadership at once (on shutdown or when deposed), so a follower takes over
    /// without waiting for the lease to expire.
    pub async fn resign(self) {
        self.lost.cancel();
        self.resign.resign().await;
    }
}

#[async_trait::async_trait]
pub trait Election: Send + Sync {
    /// Waits until this instance leads, or `None` on shutdown.
    async fn campaign(&self, shutdown: &CancellationToken) -> Option<Leadership>;
}
