//! Periodic jobs that run once per cluster ([`crate::cluster::ClusterJob`]). Each run's errors
//! are logged and the job goes on: one bad run never stops the loop (docs.rs's per-tick
//! isolation).

mod issue_sweep;
mod retention;

pub use issue_sweep::IssueSweep;
pub use retention::{Pace, Retention, SweepReport, sweep};
