//! Long-lived services and the supervisor that keeps them running (RESIL-01, RESIL-03).
//!
//! A [`Service`] is a named task with its own state and a bounded mailbox; its `run` is called
//! again after a crash, so state that must survive a crash (the mailbox receiver, a batch in
//! flight) lives in the service value, not in `run`'s locals. The [`Supervisor`] owns every
//! service: it restarts one that panics or returns an error, with exponential backoff, up to a
//! restart budget; a health checker restarts one whose heartbeat stops (hung or deadlocked).
//! Past the budget the node is marked failed: `/readyz` says so and the binary exits non-zero so
//! that an orchestrator replaces it.

mod supervisor;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

pub use supervisor::{ServiceHandle, ServiceState, ServiceStatus, Supervisor, SupervisorConfig};

/// A long-lived task owned by the [`Supervisor`].
pub trait Service: Send + Sync + 'static {
    /// Stable name, used in logs, metrics and `/readyz`.
    fn name(&self) -> &'static str;

    /// Runs until `ctx.stop` is cancelled and the work in hand is done, then returns `Ok`.
    /// An `Err` or a panic makes the supervisor call `run` again.
    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>>;
}

/// What a running service gets from its supervisor.
#[derive(Clone)]
pub struct ServiceContext {
    /// Cancelled when the service must finish its work in hand and return.
    pub stop: CancellationToken,
    /// Beat it at least every few seconds, busy or idle; a silent service is restarted.
    pub heartbeat: Heartbeat,
}

/// How often a waiting service beats.
const BEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl ServiceContext {
    /// Waits for `fut` (a mailbox, a timer, a reply), beating the heartbeat meanwhile: waiting
    /// is liveness, so no service writes its own beating loop. `None` when told to stop first;
    /// a value that is ready as the stop comes is still returned.
    pub async fn wait<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            self.heartbeat.beat();
            tokio::select! {
                biased;
                out = &mut fut => return Some(out),
                _ = self.stop.cancelled() => return None,
                _ = tokio::time::sleep(BEAT_EVERY) => {}
            }
        }
    }

    /// Runs `fut` to its end, beating meanwhile, whatever the stop signal says: for work in
    /// hand that must finish (a commit, a reply), which is waiting on the database, not hung.
    pub async fn busy<F: std::future::Future>(&self, fut: F) -> F::Output {
        tokio::pin!(fut);
        loop {
            self.heartbeat.beat();
            tokio::select! {
                biased;
                out = &mut fut => return out,
                _ = tokio::time::sleep(BEAT_EVERY) => {}
            }
        }
    }

    /// Sleeps for `d`, beating; `false` when told to stop first.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        self.wait(tokio::time::sleep(d)).await.is_some()
    }

    /// Waits, beating, until told to stop: for a service whose input has closed. At shutdown
    /// the pipeline's queue closes just before its services are told to stop; returning at the
    /// closure itself would be "returned before being told to stop", a crash and a restart
    /// (issue 12, row 15).
    pub async fn idle_until_stopped(&self) {
        self.wait(std::future::pending::<()>()).await;
    }
}

/// A service's proof of life: the time of its last beat.
#[derive(Clone)]
pub struct Heartbeat {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Heartbeat {
    pub(crate) fn new() -> Self {
        Heartbeat {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records that the service is alive now.
    pub fn beat(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub(crate) fn silence(&self) -> std::time::Duration {
        let last = std::time::Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}
