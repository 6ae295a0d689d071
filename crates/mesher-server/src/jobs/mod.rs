//! Periodic background jobs, run as supervised services. Each tick's errors are logged and the
//! job goes on: one bad tick never stops the loop (docs.rs's per-tick isolation).

mod issue_sweep;

pub use issue_sweep::IssueSweeper;
