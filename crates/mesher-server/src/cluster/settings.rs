//! The cluster's settings, validated with the rest of the configuration.

use std::time::Duration;

use mesher_store::DatabaseUrl;
use url::Url;

use crate::config::Config;

/// The original design's threshold: 100 accepted events per 5-second window.
pub const DEFAULT_THRESHOLD: u64 = 100;

/// Membership, the load monitor and cluster jobs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// This node's name; `None`: `<hostname>:<port>` once the port is bound.
    pub node_name: Option<String>,
    /// The URL peers reach this node at; `None`: the public URL.
    pub advertise_url: Option<Url>,
    /// The load monitor's window and heartbeat period.
    pub monitor_interval: Duration,
    /// Accepted events per window above which the node is busy.
    pub threshold: u64,
    /// How often the issue sweep runs (once per cluster).
    pub issue_sweep_interval: Duration,
    /// How often threshold alert rules are checked (once per cluster).
    pub alert_check_interval: Duration,
    /// How often the retention sweeper runs (on the lease holder).
    pub retention_sweep_interval: Duration,
}

impl ClusterSettings {
    /// Reads the cluster keys of `config`, adding every problem to `problems`. Settings that
    /// only mean something with peers are an error with SQLite, which is one node by design.
    pub(crate) fn validate(
        config: &Config,
        database: Option<&DatabaseUrl>,
        problems: &mut Vec<String>,
    ) -> ClusterSettings {
        let sqlite = matches!(database, Some(DatabaseUrl::Sqlite(_)));
        let single = |key: &str| {
            format!(
                "{key}: a cluster setting, but SQLite runs one node; use a PostgreSQL \
                 database_url for a cluster"
            )
        };
        let node_name = config.node_name.as_deref().map(str::trim);
        if let Some(name) = node_name
            && (name.is_empty() || name.len() > 200 || name.chars().any(char::is_control))
        {
            problems.push("node_name: must be 1–200 printable characters".into());
        }
        let advertise_url = match config.advertise_url.as_deref() {
            None => None,
            Some(_) if sqlite => {
                problems.push(single("advertise_url"));
                None
            }
            Some(raw) => match Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    Some(u)
                }
                _ => {
                    problems.push(format!("advertise_url: {raw:?} is not an http(s) URL"));
                    None
                }
            },
        };
        if config.load_monitor_threshold.is_some() && sqlite {
            problems.push(single("load_monitor_threshold"));
        }
        for (key, value) in [
            (
                "load_monitor_interval_secs",
                config.load_monitor_interval_secs,
            ),
            (
                "issue_sweep_interval_secs",
                config.issue_sweep_interval_secs,
            ),
            (
                "alert_check_interval_secs",
                config.alert_check_interval_secs,
            ),
        ] {
            if value == 0 || value > 86_400 {
                problems.push(format!("{key}: must be between 1 and 86400"));
            }
        }
        // At least hourly (RETAIN-01).
        if !(1..=3600).contains(&config.retention_sweep_interval_secs) {
            problems.push("retention_sweep_interval_secs: must be between 1 and 3600".into());
        }
        ClusterSettings {
            node_name: node_name.map(str::to_owned),
            advertise_url,
            monitor_interval: Duration::from_secs(config.load_monitor_interval_secs.max(1)),
            threshold: config.load_monitor_threshold.unwrap_or(DEFAULT_THRESHOLD),
            issue_sweep_interval: Duration::from_secs(config.issue_sweep_interval_secs.max(1)),
            alert_check_interval: Duration::from_secs(config.alert_check_interval_secs.max(1)),
            retention_sweep_interval: Duration::from_secs(
                config.retention_sweep_interval_secs.max(1),
            ),
        }
    }

    /// The node's name: the configured one, or `<hostname>:<port>`.
    pub fn node_name_for(&self, port: u16) -> String {
        self.node_name
            .clone()
            .unwrap_or_else(|| format!("{}:{port}", hostname()))
    }
}

/// The machine's host name, for default node names.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(config: &Config) -> Vec<String> {
        match config.validate() {
            Ok(_) => Vec::new(),
            Err(e) => e.problems,
        }
    }

    #[test]
    fn cluster_settings_with_sqlite_are_a_clear_error() {
        let config = Config {
            advertise_url: Some("http://10.0.0.2:8000".into()),
            load_monitor_threshold: Some(500),
            ..Config::default()
        };
        let p = problems(&config);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("advertise_url: a cluster setting, but SQLite runs one node"));
        assert!(p[1].starts_with("load_monitor_threshold:"));
        let pg = Config {
            database_url: Some("postgres://u@db/mesher".into()),
            ..config
        };
        let s = pg.validate().unwrap().cluster;
        assert_eq!(s.threshold, 500);
        assert_eq!(s.advertise_url.unwrap().as_str(), "http://10.0.0.2:8000/");
    }

    #[test]
    fn defaults_follow_the_original_design() {
        let s = Config::default().validate().unwrap().cluster;
        assert_eq!(s.monitor_interval, Duration::from_secs(5));
        assert_eq!(s.threshold, 100);
        assert_eq!(s.issue_sweep_interval, Duration::from_secs(300));
        assert!(s.node_name_for(8000).ends_with(":8000"));
        let named = Config {
            node_name: Some(" web-1 ".into()),
            load_monitor_interval_secs: 0,
            ..Config::default()
        };
        assert_eq!(
            problems(&named),
            ["load_monitor_interval_secs: must be between 1 and 86400"]
        );
        let named = Config {
            load_monitor_interval_secs: 5,
            ..named
        };
        assert_eq!(named.validate().unwrap().cluster.node_name_for(1), "web-1");
    }
}
