//! Delivery: one fired alert, one attempt to tell someone.

pub mod guard;
pub mod notice;
pub mod webhook;

pub use notice::Notice;
pub use webhook::WebhookFormat;
