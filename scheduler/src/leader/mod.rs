//! Leadership: campaign, claim a term from MySQL (strictly above every stored term, so it
//! survives etcd being rebuilt), and run the leader's duties as peers — reconcile, the
//! execution sweeps, alert delivery, the next fires (`upcoming`) — until leadership is lost or the term is superseded.

pub mod convert;
pub mod index;
pub mod links;
pub mod moves;
pub mod plan;
pub mod push;
pub mod pushes;
pub mod rebalance;
pub mod reconcile;
pub mod upcoming;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use crate::alert::watch::LeaderAlerting;
use crate::election::{Election, Leadership};
use crate::store::StoreError;
use crate::sweep::Sweeper;
use push::AgentDialer;
pub use reconcile::ReconcileDeps;

pub struct LeaderDeps {
    pub reconcile: ReconcileDeps,
    pub dialer: AgentDialer,
    /// This instance's current term while it leads, 0 otherwise (for `/healthz`).
    pub leading_term: Arc<AtomicU64>,
    /// The execution sweeps, run for as long as this instance leads.
    pub sweeper: Sweeper,
    /// Alert delivery and agent alerts, run for as long as this instance leads.
    pub alerting: LeaderAlerting,
}

/// Campaigns, leads until leadership is lost, campaigns again — until `shutdown`.
pub async fn run_leadership<E: Election>(
    election: E,
    deps: LeaderDeps,
    shutdown: CancellationToken,
) {
    while let Some(leadership) = election.campaign(&shutdown).await {
        match deps.reconcile.store.claim_next_term().await {
            Ok(term) => {
                tracing::info!(term, "leading");
                lead(term, &leadership, &deps, &shutdown).await;
                tracing::info!(term, "no longer leader");
            }
            Err(e) => tracing::warn!(error = %e, "cannot claim a leader term; stepping down"),
        }
        leadership.resign().await;
        if shutdown.is_cancelled() {
            break;
        }
    }
}

/// Runs the duties until one of them ends, leadership is lost, or shutdown.
async fn lead(term: u64, leadership: &Leadership, deps: &LeaderDeps, shutdown: &CancellationToken) {
    deps.leading_term.store(term, Ordering::SeqCst);
    let duties = shutdown.child_token();
    let lost = leadership.lost.clone();
    let watch_lost = {
        let duties = duties.clone();
        let fence = leadership.fence.clone();
        tokio::spawn(async move {
            // Stop at once when the lease is no longer certainly alive, not at the next pass.
            loop {
                tokio::select! {
                    _ = duties.cancelled() => return,
                    _ = lost.cancelled() => break,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {
                        if !fence.is_alive() { break }
                    }
                }
            }
            duties.cancel();
        })
    };
    let sweeper = tokio::spawn(deps.sweeper.clone().run(duties.clone()));
    let alerting = tokio::spawn(deps.alerting.clone().run(duties.clone()));
    let (upcoming_tx, upcoming_rx) = tokio::sync::mpsc::unbounded_channel();
    let store = deps.reconcile.store.clone();
    let upcoming = tokio::spawn(upcoming::run(store, upcoming_rx, duties.clone()));
    let clients = push::AgentClients::new(deps.dialer.clone());
    let reconciled = reconcile::run(
        term,
        deps.reconcile.clone(),
        clients,
        upcoming_tx,
        duties.clone(),
    )
    .await;
    if let Err(StoreError::Deposed { mine, current }) = reconciled {
        tracing::warn!(mine, current, "deposed: a newer leader writes assignments");
    }
    duties.cancel();
    let _ = tokio::join!(sweeper, alerting, upcoming, watch_lost);
    deps.leading_term.store(0, Ordering::SeqCst);
}
