//! Alerts (issue 16, ALERT-01 … ALERT-06): rules as people write them, the engine that fires
//! on issue changes, the threshold job, and the delivery of each alert to its actions.

pub mod engine;
pub mod rule;
pub mod thresholds;
