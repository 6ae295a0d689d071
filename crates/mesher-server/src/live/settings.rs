//! The live stream's settings, validated with the rest of the configuration.

use std::time::Duration;

use crate::config::Config;

/// Caps, queue length and keep-alive of live streams.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    /// Open streams on this node at most.
    pub max_per_node: usize,
    /// Open streams of one user on this node at most.
    pub max_per_user: usize,
    /// Messages queued per stream before the oldest are dropped.
    pub queue_messages: usize,
    /// How often a stream is pinged; one silent (no pong, no message) for two intervals, or
    /// whose client takes that long to take a message, is closed.
    pub ping_interval: Duration,
}

impl StreamSettings {
    /// Reads the stream keys of `config`, adding every problem to `problems`.
    pub(crate) fn validate(config: &Config, problems: &mut Vec<String>) -> StreamSettings {
        let ranges = [
            ("stream_max_per_node", config.stream_max_per_node, 1_000_000),
            ("stream_max_per_user", config.stream_max_per_user, 1_000_000),
            (
                "stream_queue_messages",
                config.stream_queue_messages,
                100_000,
            ),
            (
                "stream_ping_interval_secs",
                config.stream_ping_interval_secs,
                3_600,
            ),
        ];
        for (key, value, max) in ranges {
            if value == 0 || value > max {
                problems.push(format!("{key}: must be between 1 and {max}"));
            }
        }
        let size = |v: u64| usize::try_from(v.max(1)).unwrap_or(usize::MAX);
        StreamSettings {
            max_per_node: size(config.stream_max_per_node),
            max_per_user: size(config.stream_max_per_user),
            queue_messages: size(config.stream_queue_messages),
            ping_interval: Duration::from_secs(config.stream_ping_interval_secs.max(1)),
        }
    }
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings::validate(&Config::default(), &mut Vec::new())
    }
}
