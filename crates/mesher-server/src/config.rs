//! Configuration: the raw, layered [`Config`] and the validated [`Settings`] the server runs on.
//!
//! The binary merges built-in defaults, an optional TOML file, `MESHER_*` environment variables
//! and command-line flags into one [`Config`] (see the README for every key), then calls
//! [`Config::validate`], which reports every problem at once.

mod keys;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use mesher_store::DatabaseUrl;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use url::Url;

pub use crate::alerts::notify::NotifySettings;
pub use crate::cluster::ClusterSettings;
pub use crate::live::StreamSettings;
pub use keys::{CONFIG_KEYS, INTEGER_KEYS};

/// Every configuration key, with its default. Unknown keys in a file are rejected.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port of the HTTP server.
    pub listen: String,
    /// Directory for the SQLite database and other local state; created on first run.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; default SQLite at `<data_dir>/mesher.db`.
    pub database_url: Option<String>,
    /// The URL SDKs and browsers reach Mesher at; used to print DSNs and links.
    /// Default: `http://<listen>`.
    pub public_url: Option<String>,
    /// Email of the admin user created on first start.
    pub admin_email: String,
    /// Password of that admin; generated and printed once when unset.
    pub admin_password: Option<String>,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax (`info`, `mesher_server=debug,info`, …).
    pub log_level: String,
    /// Largest request body accepted as sent (compressed), in bytes.
    pub max_request_bytes: u64,
    /// Largest envelope or bulk body after decompression, in bytes.
    pub max_envelope_bytes: u64,
    /// Largest single event after decompression, in bytes.
    pub max_event_bytes: u64,
    /// Most events in one `POST /api/v1/events/bulk`.
    pub max_bulk_events: u64,
    /// Events waiting in the pipeline before ingest answers 503.
    pub queue_max_events: u64,
    /// Bytes of events waiting in the pipeline before ingest answers 503.
    pub queue_max_bytes: u64,
    /// A write batch holds at most this many events; it closes earlier when the queue is empty.
    pub batch_max_events: u64,
    /// How long a batch waits for more events once the queue is empty, in milliseconds: 0
    /// commits at once (the batch grows by itself under load, issue 13).
    pub batch_max_wait_ms: u64,
    /// How often the health checker looks at every service's heartbeat; a service silent for
    /// three intervals is restarted.
    pub health_check_interval_ms: u64,
    /// How long a graceful shutdown may take to drain the queues before the process exits.
    pub shutdown_timeout_secs: u64,
    /// Restarts of one service within a minute before the node gives up and exits non-zero.
    pub restart_budget: u64,
    /// Bytes of request bodies being read or decompressed at once, across all ingest requests;
    /// a request that would go over answers 503 with `Retry-After`.
    pub max_inflight_body_bytes: u64,
    /// Bytes of source map chunks an organization may hold before they are assembled; an
    /// upload that would go over answers 413.
    pub max_pending_chunk_bytes: u64,
    /// Most tags kept per event; the excess is dropped and noted in the event's `errors`.
    pub max_tags_per_event: u64,
    /// Longest tag key, in characters (at most 200, Relay's limit).
    pub max_tag_key_chars: u64,
    /// Longest tag value, in characters (at most 200, Relay's limit).
    pub max_tag_value_chars: u64,
    /// Open client connections at most; past it the longest-idle connection is closed.
    pub max_connections: u64,
    /// Seconds a client may take to send a request's headers, from its first byte.
    pub header_read_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open between requests.
    pub idle_timeout_secs: u64,
    /// Seconds a request body may take before the rate floor applies…
    pub body_read_grace_secs: u64,
    /// …after which it must have arrived at this many bytes per second on average.
    pub body_min_bytes_per_sec: u64,
    /// Addresses (IPs or CIDR networks) of reverse proxies whose `X-Forwarded-For` is believed:
    /// a list in TOML, comma-separated in `MESHER_TRUSTED_PROXIES`. Empty (the default): the
    /// TCP peer is the client and `X-Forwarded-For` is ignored.
    pub trusted_proxies: AddressList,
    /// This node's name in the cluster; default `<hostname>:<port>`.
    pub node_name: Option<String>,
    /// The URL peers reach this node at (PostgreSQL only); default the public URL.
    pub advertise_url: Option<String>,
    /// Seconds between the load monitor's runs: it reads and resets the event counter and
    /// writes the node's heartbeat. A node silent for three intervals is down.
    pub load_monitor_interval_secs: u64,
    /// Accepted events per load-monitor window above which a node is busy and hands work to
    /// idler peers (PostgreSQL only); default 100.
    pub load_monitor_threshold: Option<u64>,
    /// Seconds between runs of the issue sweep (escalation of archived issues, `new` →
    /// `ongoing`), a job that runs on one node of the cluster at a time.
    pub issue_sweep_interval_secs: u64,
    /// Seconds between checks of threshold alert rules, a job that runs on one node of the
    /// cluster at a time.
    pub alert_check_interval_secs: u64,
    /// Seconds between retention sweeps (RETAIN-01), run by the node holding the cluster jobs'
    /// lease; 1–3600, so that a sweep comes at least hourly.
    pub retention_sweep_interval_secs: u64,
    /// Live streams (WebSockets) open on one node at most; past it a new one is closed with
    /// code 1013 and a reason.
    pub stream_max_per_node: u64,
    /// Live streams of one user on one node at most; past it a new one is closed with code
    /// 1008 and a reason.
    pub stream_max_per_user: u64,
    /// Messages queued per live stream; a client that falls further behind loses the oldest
    /// and is told how many (`lagged`).
    pub stream_queue_messages: u64,
    /// Seconds between pings of a live stream; one silent for two intervals is closed.
    pub stream_ping_interval_secs: u64,
    /// The SMTP server alert e-mails go through (`smtp://host:25`,
    /// `smtp://user:pass@host:587?tls=starttls`, `smtps://host:465`); unset: no e-mail.
    pub smtp_url: Option<String>,
    /// The sender of alert e-mails; default `mesher@<public_url's host>`.
    pub smtp_from: Option<String>,
    /// Lets alert webhooks reach loopback, private and other non-public addresses.
    #[serde(deserialize_with = "flag")]
    pub webhook_allow_private: bool,
    /// Seconds before the first retry of a failed alert delivery; each retry waits twice as
    /// long as the one before, up to 10 minutes, for an hour.
    pub alert_retry_first_secs: u64,
}

/// A list of addresses as written in a layer: a TOML array, or one comma-separated string (the
/// environment's only shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AddressList {
    /// `"127.0.0.1/32,10.0.0.0/8"`.
    Text(String),
    /// `["127.0.0.1", "10.0.0.0/8"]`.
    List(Vec<String>),
}

impl Default for AddressList {
    fn default() -> Self {
        AddressList::List(Vec::new())
    }
}

impl AddressList {
    /// The entries, trimmed, empty ones skipped.
    fn entries(&self) -> Vec<&str> {
        let all: Vec<&str> = match self {
            AddressList::Text(s) => s.split(',').collect(),
            AddressList::List(v) => v.iter().map(String::as_str).collect(),
        };
        all.into_iter()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect()
    }
}

/// One IP address (`10.1.2.3`, a single host) or network (`10.0.0.0/8`).
fn parse_net(entry: &str) -> Result<IpNet, String> {
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{entry:?} is not an IP address or CIDR network"))
}

/// How logs are written to standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8000".into(),
            data_dir: PathBuf::from("./mesher-data"),
            database_url: None,
            public_url: None,
            admin_email: "admin@mesher.local".into(),
            admin_password: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            max_request_bytes: 20 * MIB,
            max_envelope_bytes: 100 * MIB,
            max_event_bytes: MIB,
            max_bulk_events: 1000,
            queue_max_events: 4096,
            queue_max_bytes: 64 * MIB,
            batch_max_events: 1000,
            batch_max_wait_ms: 0,
            health_check_interval_ms: 5000,
            shutdown_timeout_secs: 30,
            restart_budget: 10,
            max_inflight_body_bytes: 128 * MIB,
            max_pending_chunk_bytes: 1024 * MIB,
            max_tags_per_event: 100,
            max_tag_key_chars: 200,
            max_tag_value_chars: 200,
            max_connections: 10_000,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_read_grace_secs: 20,
            body_min_bytes_per_sec: 500,
            trusted_proxies: AddressList::default(),
            node_name: None,
            advertise_url: None,
            load_monitor_interval_secs: 5,
            load_monitor_threshold: None,
            issue_sweep_interval_secs: 300,
            alert_check_interval_secs: 30,
            retention_sweep_interval_secs: 60,
            stream_max_per_node: 1_000,
            stream_max_per_user: 20,
            stream_queue_messages: 500,
            stream_ping_interval_secs: 20,
            smtp_url: None,
            smtp_from: None,
            webhook_allow_private: false,
            alert_retry_first_secs: 10,
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// A secret string: printed as `***` by `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Error)]
#[error("invalid configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    /// One message per problem, each naming its key.
    pub problems: Vec<String>,
}

/// Size limits and pipeline sizing, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body as sent.
    pub max_request_bytes: usize,
    /// Largest envelope or bulk body, decompressed.
    pub max_envelope_bytes: usize,
    /// Largest event, decompressed.
    pub max_event_bytes: usize,
    /// Most events in one bulk request.
    pub max_bulk_events: usize,
    /// Events waiting in the pipeline.
    pub queue_max_events: usize,
    /// Bytes waiting in the pipeline.
    pub queue_max_bytes: usize,
    /// Events per write batch.
    pub batch_max_events: usize,
    /// Longest wait for a batch to fill.
    pub batch_max_wait: std::time::Duration,
    /// Health check period (a service silent for three periods is restarted).
    pub health_check_interval: std::time::Duration,
    /// Longest graceful drain at shutdown.
    pub shutdown_timeout: std::time::Duration,
    /// Restarts of one service per minute before the node fails.
    pub restart_budget: usize,
    /// Bytes of ingest bodies read or decompressed at once, across all requests.
    pub max_inflight_body_bytes: usize,
    /// Bytes of source map chunks an organization may hold before they are assembled.
    pub max_pending_chunk_bytes: u64,
    /// Tags kept per event and their sizes.
    pub tags: mesher_protocol::normalize::TagLimits,
    /// A request body gets this long before the rate floor applies…
    pub body_read_grace: std::time::Duration,
    /// …and must arrive at this many bytes per second after it.
    pub body_min_bytes_per_sec: u64,
}

/// How the HTTP server treats connections: the edge against idle and slow clients.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// Open connections at most; past it the longest-idle one is closed for the newcomer.
    pub max_connections: usize,
    /// Time to send a request's headers, from their first byte.
    pub header_read_timeout: std::time::Duration,
    /// Time an idle keep-alive connection is kept between requests.
    pub idle_timeout: std::time::Duration,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Local state directory.
    pub data_dir: PathBuf,
    /// The database.
    pub database: DatabaseUrl,
    /// Public base URL, when configured; otherwise derived from the bound address.
    pub public_url: Option<Url>,
    /// First-start admin email.
    pub admin_email: String,
    /// First-start admin password.
    pub admin_password: Option<Secret>,
    /// Log output format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Size limits and pipeline sizing.
    pub limits: Limits,
    /// Connection limits and timeouts.
    pub connections: ConnectionLimits,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`crate::ingest::ClientIp`]).
    pub trusted_proxies: Vec<IpNet>,
    /// Membership, the load monitor and cluster jobs.
    pub cluster: ClusterSettings,
    /// Live streams: caps, queue length, keep-alive.
    pub stream: StreamSettings,
    /// Alert notifications: SMTP and the webhooks' reach.
    pub notify: NotifySettings,
}

impl Config {
    /// Checks every key and returns the typed settings, or every problem found.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let listen = self
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| {
                problems.push(format!(
                    "listen: {:?} is not an address and port ({e})",
                    self.listen
                ))
            })
            .ok();
        let database = match &self.database_url {
            None => Some(DatabaseUrl::default_in(&self.data_dir)),
            Some(url) => DatabaseUrl::parse(url)
                .map_err(|e| problems.push(format!("database_url: {e}")))
                .ok(),
        };
        let public_url = match &self.public_url {
            None => None,
            Some(raw) => match Url::parse(raw) {
                Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                    problems.push(format!(
                        "public_url: {raw:?} must start with http:// or https://"
                    ));
                    None
                }
                Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                    problems.push(format!("public_url: {raw:?} names no host"));
                    None
                }
                Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                    problems.push(format!(
                        "public_url: {raw:?} must not have a query or fragment"
                    ));
                    None
                }
                Ok(u) => Some(u),
                Err(e) => {
                    problems.push(format!("public_url: {raw:?} is not a URL ({e})"));
                    None
                }
            },
        };
        let email = self.admin_email.trim();
        if !is_plausible_email(email) {
            problems.push(format!("admin_email: {email:?} is not an email address"));
        }
        if let Some(pw) = &self.admin_password
            && pw.chars().count() < 8
        {
            problems.push("admin_password: must be at least 8 characters".into());
        }
        if let Err(e) = tracing_filter_check(&self.log_level) {
            problems.push(format!("log_level: {e}"));
        }
        for (key, value) in [
            ("max_request_bytes", self.max_request_bytes),
            ("max_envelope_bytes", self.max_envelope_bytes),
            ("max_event_bytes", self.max_event_bytes),
            ("max_bulk_events", self.max_bulk_events),
            ("queue_max_events", self.queue_max_events),
            ("queue_max_bytes", self.queue_max_bytes),
            ("batch_max_events", self.batch_max_events),
            ("health_check_interval_ms", self.health_check_interval_ms),
            ("max_inflight_body_bytes", self.max_inflight_body_bytes),
            ("max_connections", self.max_connections),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("body_read_grace_secs", self.body_read_grace_secs),
        ] {
            if value == 0 {
                problems.push(format!("{key}: must be greater than 0"));
            }
        }
        if self.max_event_bytes > self.max_envelope_bytes {
            problems.push("max_event_bytes: must not exceed max_envelope_bytes".into());
        }
        let bundle = crate::api::artifacts::MAX_BUNDLE_BYTES as u64;
        if self.max_pending_chunk_bytes < bundle {
            problems.push(format!(
                "max_pending_chunk_bytes: must hold at least one source map bundle ({bundle} bytes)"
            ));
        }
        if self.max_event_bytes > self.queue_max_bytes {
            problems
                .push("queue_max_bytes: must hold at least one event of max_event_bytes".into());
        }
        if self.max_request_bytes > self.max_inflight_body_bytes {
            problems.push(
                "max_inflight_body_bytes: must hold at least one body of max_request_bytes".into(),
            );
        }
        if self.max_envelope_bytes > self.max_inflight_body_bytes {
            problems.push(
                "max_inflight_body_bytes: must hold at least one envelope of max_envelope_bytes"
                    .into(),
            );
        }
        for (key, value) in [
            ("max_tag_key_chars", self.max_tag_key_chars),
            ("max_tag_value_chars", self.max_tag_value_chars),
        ] {
            if value == 0 || value > 200 {
                problems.push(format!("{key}: must be between 1 and 200"));
            }
        }
        if self.data_dir.as_os_str().is_empty() {
            problems.push("data_dir: must not be empty".into());
        }
        let mut trusted_proxies = Vec::new();
        for entry in self.trusted_proxies.entries() {
            match parse_net(entry) {
                Ok(net) => trusted_proxies.push(net),
                Err(e) => problems.push(format!("trusted_proxies: {e}")),
            }
        }
        let cluster = ClusterSettings::validate(self, database.as_ref(), &mut problems);
        let stream = StreamSettings::validate(self, &mut problems);
        let notify = NotifySettings::validate(self, public_url.as_ref(), &mut problems);
        match (listen, database) {
            (Some(listen), Some(database)) if problems.is_empty() => Ok(Settings {
                listen,
                data_dir: self.data_dir.clone(),
                database,
                public_url,
                admin_email: email.to_lowercase(),
                admin_password: self.admin_password.clone().map(Secret::new),
                log_format: self.log_format,
                log_level: self.log_level.clone(),
                limits: self.limits(),
                connections: self.connections(),
                trusted_proxies,
                cluster,
                stream,
                notify,
            }),
            _ => Err(ConfigError { problems }),
        }
    }
}

impl Config {
    fn limits(&self) -> Limits {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Limits {
            max_request_bytes: size(self.max_request_bytes),
            max_envelope_bytes: size(self.max_envelope_bytes),
            max_event_bytes: size(self.max_event_bytes),
            max_bulk_events: size(self.max_bulk_events),
            queue_max_events: size(self.queue_max_events),
            queue_max_bytes: size(self.queue_max_bytes),
            batch_max_events: size(self.batch_max_events),
            batch_max_wait: std::time::Duration::from_millis(self.batch_max_wait_ms),
            health_check_interval: std::time::Duration::from_millis(self.health_check_interval_ms),
            shutdown_timeout: std::time::Duration::from_secs(self.shutdown_timeout_secs),
            restart_budget: size(self.restart_budget),
            max_inflight_body_bytes: size(self.max_inflight_body_bytes),
            max_pending_chunk_bytes: self.max_pending_chunk_bytes,
            tags: mesher_protocol::normalize::TagLimits {
                max_tags: size(self.max_tags_per_event),
                max_key_chars: size(self.max_tag_key_chars),
                max_value_chars: size(self.max_tag_value_chars),
            },
            body_read_grace: std::time::Duration::from_secs(self.body_read_grace_secs),
            body_min_bytes_per_sec: self.body_min_bytes_per_sec,
        }
    }

    fn connections(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
        }
    }
}

/// A boolean key: `true`/`false` in a file, also `1`/`0`, `yes`/`no` as text (the
/// environment's only shape).
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Flag::deserialize(deserializer)? {
        Flag::Bool(b) => Ok(b),
        Flag::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "{t:?} is not a boolean (true or false)"
            ))),
        },
    }
}

fn is_plausible_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The log filter must parse; the binary builds the real filter from the same string.
fn tracing_filter_check(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("must not be empty (try \"info\")".into());
    }
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| ())
        .map_err(|e| {
            format!("{s:?} is not a log filter ({e}); try \"info\" or \"mesher_server=debug,info\"")
        })
}

impl Settings {
    /// Settings for tests: a server on a free port of 127.0.0.1 using `database`.
    pub fn for_tests(database: DatabaseUrl) -> Settings {
        Settings {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            data_dir: PathBuf::from("."),
            database,
            public_url: None,
            admin_email: "admin@mesher.local".into(),
            admin_password: Some(Secret::new("correct horse battery")),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            limits: Config::default().limits(),
            connections: Config::default().connections(),
            trusted_proxies: Vec::new(),
            cluster: ClusterSettings::validate(&Config::default(), None, &mut Vec::new()),
            stream: StreamSettings::default(),
            notify: NotifySettings::default(),
        }
    }

    /// The public base URL for a server bound to `bound`: the configured one, or
    /// `http://<bound address>` (with an unspecified IP replaced by 127.0.0.1).
    pub fn public_url_for(&self, bound: SocketAddr) -> Url {
        if let Some(u) = &self.public_url {
            return u.clone();
        }
        let ip = if bound.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            bound.ip()
        };
        let addr = SocketAddr::new(ip, bound.port());
        // An IP address and port always form a valid URL authority.
        Url::parse(&format!("http://{addr}")).expect("a socket address is a valid URL host")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let s = Config::default().validate().unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(
            s.database,
            DatabaseUrl::Sqlite("./mesher-data/mesher.db".into())
        );
        assert_eq!(
            s.public_url_for(s.listen).as_str(),
            "http://127.0.0.1:8000/"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let cfg = Config {
            listen: "nope".into(),
            database_url: Some("mysql://x".into()),
            public_url: Some("ftp://h".into()),
            admin_email: "bad".into(),
            admin_password: Some("short".into()),
            log_level: "mesher=loud".into(),
            max_pending_chunk_bytes: 1024,
            ..Config::default()
        };
        let e = cfg.validate().unwrap_err();
        let keys: Vec<_> = e
            .problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "listen",
                "database_url",
                "public_url",
                "admin_email",
                "admin_password",
                "log_level",
                "max_pending_chunk_bytes"
            ]
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let cfg = Config {
            database_url: Some("postgres://u:hunter2@h/db".into()),
            admin_password: Some("sw0rdfish!".into()),
            smtp_url: Some("smtp://alerts:s3cr3t-smtp@mail.example.com?tls=starttls".into()),
            ..Config::default()
        };
        let shown = format!("{cfg:?} {:?}", cfg.validate().unwrap());
        assert!(
            !shown.contains("hunter2") && !shown.contains("sw0rdfish"),
            "{shown}"
        );
        assert!(!shown.contains("s3cr3t-smtp"), "{shown}");
        assert!(shown.contains("mail.example.com"), "{shown}");
    }

    #[test]
    fn webhook_allow_private_reads_text_as_the_environment_gives_it() {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<Config>(serde_json::json!({ "webhook_allow_private": v }))
                .map(|c| c.webhook_allow_private)
        };
        assert!(!Config::default().webhook_allow_private);
        assert!(parse(serde_json::json!(true)).unwrap());
        assert!(parse(serde_json::json!("true")).unwrap());
        assert!(!parse(serde_json::json!("0")).unwrap());
        assert!(parse(serde_json::json!("perhaps")).is_err());
    }

    #[test]
    fn public_url_keeps_its_path_prefix() {
        let cfg = Config {
            public_url: Some("https://errors.example.com/mesher".into()),
            ..Config::default()
        };
        let s = cfg.validate().unwrap();
        assert_eq!(
            s.public_url_for(s.listen).as_str(),
            "https://errors.example.com/mesher"
        );
    }

    #[test]
    fn trusted_proxies_from_a_string_or_a_list() {
        let from_env = Config {
            trusted_proxies: AddressList::Text(" 127.0.0.1/32, 10.0.0.0/8 ,::1".into()),
            ..Config::default()
        };
        let nets: Vec<String> = from_env
            .validate()
            .unwrap()
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        let from_toml = Config {
            trusted_proxies: AddressList::List(vec!["192.168.1.7/24".into()]),
            ..Config::default()
        };
        // Host bits are dropped: the entry means the whole network.
        assert_eq!(
            from_toml.validate().unwrap().trusted_proxies[0].to_string(),
            "192.168.1.0/24"
        );
        let bad = Config {
            trusted_proxies: AddressList::Text("10.0.0.0/33,proxy.local".into()),
            ..Config::default()
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
        assert!(e.problems.iter().all(|p| p.starts_with("trusted_proxies:")));
        assert!(
            Config::default()
                .validate()
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
    }

    #[test]
    fn log_filters() {
        assert!(tracing_filter_check("info").is_ok());
        assert!(tracing_filter_check("mesher_server=debug,info").is_ok());
        assert!(tracing_filter_check("mesher=loud").is_err());
        assert!(tracing_filter_check(" ").is_err());
    }
}
