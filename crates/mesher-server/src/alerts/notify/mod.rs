//! Delivery: one fired alert, one attempt to tell someone.

pub mod email;
pub mod guard;
pub mod notice;
pub mod settings;
pub mod webhook;

pub use notice::Notice;
pub use settings::NotifySettings;
pub use webhook::WebhookFormat;
