//! The supervisor: restarts with backoff and a budget, heartbeat health checks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Heartbeat, Service, ServiceContext};
use crate::metrics::{Metrics, ServiceLabels};

/// Restart and health-check policy.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// First restart delay; doubles per consecutive crash.
    pub backoff_initial: Duration,
    /// Longest restart delay.
    pub backoff_max: Duration,
    /// Most restarts of one service within `budget_window` before the node gives up.
    pub budget: usize,
    /// The window of the restart budget.
    pub budget_window: Duration,
    /// How often heartbeats are checked.
    pub check_interval: Duration,
    /// A service silent for longer than this is restarted.
    pub silence_limit: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            budget: 10,
            budget_window: Duration::from_secs(60),
            check_interval: Duration::from_secs(5),
            silence_limit: Duration::from_secs(15),
        }
    }
}

/// Where a service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Running.
    Running,
    /// Crashed; waiting for its restart.
    Restarting,
    /// Returned after being told to stop.
    Stopped,
    /// Crashed more often than the budget allows; not restarted.
    Failed,
}

/// A service's state as `/readyz` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    /// Service name.
    pub name: &'static str,
    /// Current state.
    pub state: ServiceState,
    /// Restarts since the node started.
    pub restarts: u64,
    /// The last crash, if any.
    pub last_error: Option<String>,
}

struct Entry {
    status: ServiceStatus,
    heartbeat: Heartbeat,
    stop: CancellationToken,
    /// The running instance, aborted by the health checker when silent.
    current: Option<tokio::task::AbortHandle>,
    watcher: Option<JoinHandle<()>>,
}

/// A running service, as [`Supervisor::spawn`] returns it: the way to address it (to stop it),
/// instead of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceHandle {
    index: usize,
    name: &'static str,
}

impl ServiceHandle {
    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Owns every service of a node.
pub struct Supervisor {
    config: SupervisorConfig,
    metrics: Arc<Metrics>,
    entries: Arc<Mutex<Vec<Entry>>>,
    /// Cancelled when a service exhausts its restart budget.
    failed: CancellationToken,
    health: Mutex<Option<JoinHandle<()>>>,
    shutdown: CancellationToken,
}

impl Supervisor {
    /// A supervisor with no services yet; its health checker starts with it.
    pub fn new(config: SupervisorConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        let sup = Arc::new(Supervisor {
            config,
            metrics,
            entries: Arc::new(Mutex::new(Vec::new())),
            failed: CancellationToken::new(),
            health: Mutex::new(None),
            shutdown: CancellationToken::new(),
        });
        let handle = tokio::spawn(health_check(sup.clone()));
        *lock(&sup.health) = Some(handle);
        sup
    }

    /// Cancelled when some service crashed past its budget: the node must stop.
    pub fn failed(&self) -> CancellationToken {
        self.failed.clone()
    }

    /// Each service's state.
    pub fn statuses(&self) -> Vec<ServiceStatus> {
        lock(&self.entries)
            .iter()
            .map(|e| e.status.clone())
            .collect()
    }

    /// Starts a service and keeps it running.
    pub fn spawn<S: Service>(self: &Arc<Self>, service: Arc<S>) -> ServiceHandle {
        let heartbeat = Heartbeat::new();
        heartbeat.beat();
        let stop = CancellationToken::new();
        let index = {
            let mut entries = lock(&self.entries);
            entries.push(Entry {
                status: ServiceStatus {
                    name: service.name(),
                    state: ServiceState::Running,
                    restarts: 0,
                    last_error: None,
                },
                heartbeat: heartbeat.clone(),
                stop: stop.clone(),
                current: None,
                watcher: None,
            });
            entries.len() - 1
        };
        let name = service.name();
        let ctx = ServiceContext { stop, heartbeat };
        let watcher = tokio::spawn(watch(self.clone(), index, service, ctx));
        lock(&self.entries)[index].watcher = Some(watcher);
        ServiceHandle { index, name }
    }

    /// Stops the given services (waiting for each to finish its work in hand), in the order
    /// given, so that a producer drains before its consumer.
    pub async fn stop(&self, services: &[ServiceHandle], grace: Duration) {
        for service in services {
            let watcher = {
                let mut entries = lock(&self.entries);
                entries.get_mut(service.index).map(|e| {
                    e.stop.cancel();
                    e.watcher.take()
                })
            };
            if let Some(Some(watcher)) = watcher
                && tokio::time::timeout(grace, watcher).await.is_err()
            {
                tracing::warn!(service = service.name, "did not stop within {grace:?}");
            }
        }
    }

    /// Stops every service in reverse start order and the health checker.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown.cancel();
        let all: Vec<ServiceHandle> = lock(&self.entries)
            .iter()
            .enumerate()
            .rev()
            .map(|(index, e)| ServiceHandle {
                index,
                name: e.status.name,
            })
            .collect();
        self.stop(&all, grace).await;
        if let Some(h) = lock(&self.health).take() {
            h.abort();
        }
    }

    fn set(&self, index: usize, f: impl FnOnce(&mut Entry)) {
        f(&mut lock(&self.entries)[index]);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs one service, restarting it after every crash, until it stops or fails for good.
async fn watch<S: Service>(
    sup: Arc<Supervisor>,
    index: usize,
    service: Arc<S>,
    ctx: ServiceContext,
) {
    let name = service.name();
    let mut crashes: VecDeque<Instant> = VecDeque::new();
    let mut backoff = sup.config.backoff_initial;
    loop {
        ctx.heartbeat.beat();
        let started = Instant::now();
        let task = tokio::spawn(service.clone().run(ctx.clone()));
        sup.set(index, |e| {
            e.current = Some(task.abort_handle());
            e.status.state = ServiceState::Running;
        });
        let cause = match task.await {
            Ok(Ok(())) if ctx.stop.is_cancelled() => {
                sup.set(index, |e| e.status.state = ServiceState::Stopped);
                tracing::debug!(service = name, "stopped");
                return;
            }
            Ok(Ok(())) => "returned before being told to stop".to_string(),
            Ok(Err(e)) => format!("failed: {e:#}"),
            Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
            Err(_) => "stopped answering its health check and was aborted".to_string(),
        };
        // A run that lasted a while starts the backoff over.
        if started.elapsed() > sup.config.backoff_max * 2 {
            backoff = sup.config.backoff_initial;
        }
        let now = Instant::now();
        crashes.push_back(now);
        while crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > sup.config.budget_window)
        {
            crashes.pop_front();
        }
        let attempt = crashes.len();
        sup.metrics
            .service_restarts
            .get_or_create(&ServiceLabels { service: name })
            .inc();
        if attempt > sup.config.budget {
            tracing::error!(
                service = name,
                cause = %cause,
                "crashed {attempt} times within {:?}: giving up; the node is failing",
                sup.config.budget_window
            );
            sup.set(index, |e| {
                e.status.state = ServiceState::Failed;
                e.status.last_error = Some(cause);
            });
            sup.failed.cancel();
            return;
        }
        tracing::error!(service = name, cause = %cause, attempt, "service crashed; restarting in {backoff:?}");
        sup.set(index, |e| {
            e.status.state = ServiceState::Restarting;
            e.status.restarts += 1;
            e.status.last_error = Some(cause);
        });
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(sup.config.backoff_max);
        tracing::info!(service = name, attempt, "service restarted");
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => s.to_string(),
            Err(_) => "(no message)".to_string(),
        },
    }
}

/// Aborts services whose heartbeat went silent; their watcher restarts them.
async fn health_check(sup: Arc<Supervisor>) {
    let mut tick = tokio::time::interval(sup.config.check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = sup.shutdown.cancelled() => return,
        }
        let entries = lock(&sup.entries);
        for e in entries.iter() {
            let silence = e.heartbeat.silence();
            if e.status.state == ServiceState::Running && silence > sup.config.silence_limit {
                tracing::error!(
                    service = e.status.name,
                    "no heartbeat for {silence:?}: the service is hung; restarting it"
                );
                if let Some(current) = &e.current {
                    current.abort();
                }
            }
        }
    }
}
