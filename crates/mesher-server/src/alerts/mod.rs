//! Alerts (issue 16): rules that watch a project's issues and events, and the notifications
//! they send when they fire.
//!
//! [`notify`] turns one fired alert into one delivery attempt (a webhook or an e-mail); the
//! rules, their firing and the durable outbox that retries deliveries live beside it.

pub mod notify;
