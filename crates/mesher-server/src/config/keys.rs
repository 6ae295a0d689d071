//! The lists of [`Config`]'s keys and its `Debug`, which redacts secrets: each names every
//! key, so a new key is added to all of them here, beside each other.

use std::fmt;

use super::Config;

/// The keys of [`Config`], for layers (like the environment) that must ignore other names.
pub const CONFIG_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "public_url",
    "admin_email",
    "admin_password",
    "log_format",
    "log_level",
    "max_request_bytes",
    "max_envelope_bytes",
    "max_event_bytes",
    "max_bulk_events",
    "queue_max_events",
    "queue_max_bytes",
    "batch_max_events",
    "batch_max_wait_ms",
    "health_check_interval_ms",
    "shutdown_timeout_secs",
    "restart_budget",
    "max_inflight_body_bytes",
    "max_pending_chunk_bytes",
    "max_tags_per_event",
    "max_tag_key_chars",
    "max_tag_value_chars",
    "max_connections",
    "header_read_timeout_secs",
    "idle_timeout_secs",
    "body_read_grace_secs",
    "body_min_bytes_per_sec",
    "trusted_proxies",
    "node_name",
    "advertise_url",
    "load_monitor_interval_secs",
    "load_monitor_threshold",
    "issue_sweep_interval_secs",
    "alert_check_interval_secs",
    "retention_sweep_interval_secs",
    "stream_max_per_node",
    "stream_max_per_user",
    "stream_queue_messages",
    "stream_ping_interval_secs",
    "smtp_url",
    "smtp_from",
    "webhook_allow_private",
    "alert_retry_first_secs",
];

/// The keys of [`Config`] whose values are integers.
pub const INTEGER_KEYS: &[&str] = &[
    "max_request_bytes",
    "max_envelope_bytes",
    "max_event_bytes",
    "max_bulk_events",
    "queue_max_events",
    "queue_max_bytes",
    "batch_max_events",
    "batch_max_wait_ms",
    "health_check_interval_ms",
    "shutdown_timeout_secs",
    "restart_budget",
    "max_inflight_body_bytes",
    "max_pending_chunk_bytes",
    "max_tags_per_event",
    "max_tag_key_chars",
    "max_tag_value_chars",
    "max_connections",
    "header_read_timeout_secs",
    "idle_timeout_secs",
    "body_read_grace_secs",
    "body_min_bytes_per_sec",
    "load_monitor_interval_secs",
    "load_monitor_threshold",
    "issue_sweep_interval_secs",
    "alert_check_interval_secs",
    "retention_sweep_interval_secs",
    "stream_max_per_node",
    "stream_max_per_user",
    "stream_queue_messages",
    "stream_ping_interval_secs",
    "alert_retry_first_secs",
];

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(mesher_store::redact),
            )
            .field("public_url", &self.public_url)
            .field("admin_email", &self.admin_email)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "***"),
            )
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("limits", &self.limits())
            .field("trusted_proxies", &self.trusted_proxies)
            .field("node_name", &self.node_name)
            .field("advertise_url", &self.advertise_url)
            .field(
                "load_monitor_interval_secs",
                &self.load_monitor_interval_secs,
            )
            .field("load_monitor_threshold", &self.load_monitor_threshold)
            .field("issue_sweep_interval_secs", &self.issue_sweep_interval_secs)
            .field("alert_check_interval_secs", &self.alert_check_interval_secs)
            .field(
                "retention_sweep_interval_secs",
                &self.retention_sweep_interval_secs,
            )
            .field("stream_max_per_node", &self.stream_max_per_node)
            .field("stream_max_per_user", &self.stream_max_per_user)
            .field("stream_queue_messages", &self.stream_queue_messages)
            .field("stream_ping_interval_secs", &self.stream_ping_interval_secs)
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(mesher_store::redact),
            )
            .field("smtp_from", &self.smtp_from)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("alert_retry_first_secs", &self.alert_retry_first_secs)
            .finish()
    }
}
