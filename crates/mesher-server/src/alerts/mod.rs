//! Alerts (issue 16, ALERT-01 … ALERT-06): rules that watch a project's issues and events, and
//! the notifications they send when they fire.
//!
//! [`rule`] reads rules as people write them; the [`engine`] fires on the issue changes the
//! writer records; [`thresholds`] is the cluster job that counts; [`notify`] turns one fired
//! alert into one delivery attempt (a webhook or an e-mail), and [`outbox`] retries deliveries
//! from the durable outbox until they succeed or an hour has passed.

pub mod engine;
pub mod notify;
pub mod outbox;
pub mod rule;
pub mod thresholds;
