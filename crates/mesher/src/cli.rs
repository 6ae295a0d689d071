//! The command line: global options that work with every subcommand, and the subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Self-hosted error monitoring for the Sentry SDKs.
#[derive(Debug, Parser)]
#[command(name = "mesher", version, about, propagate_version = true)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: Global,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options accepted before or after any subcommand; they override the file and environment.
#[derive(Debug, Args, Default)]
pub struct Global {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for local state (the SQLite database).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Address and port to listen on.
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// URL that SDKs and browsers reach Mesher at (used in DSNs).
    #[arg(long, global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// This node's name in the cluster (default `<hostname>:<port>`).
    #[arg(long, global = true, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage DSN keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage alert rules and alerts.
    #[command(subcommand)]
    Alert(AlertCommand),
}

/// `mesher org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        /// Display name.
        name: String,
        /// URL-safe name; derived from the name when omitted.
        #[arg(long)]
        slug: Option<String>,
    },
    /// List organizations.
    List,
}

/// `mesher project …`
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project with its first DSN key; prints its id, slug and DSN.
    Create {
        /// Slug of the organization.
        #[arg(long)]
        org: String,
        /// Display name.
        name: String,
        /// SDK platform (python, javascript, rust, …).
        #[arg(long)]
        platform: Option<String>,
        /// URL-safe name; derived from the name when omitted.
        #[arg(long)]
        slug: Option<String>,
    },
    /// List projects.
    List {
        /// Only this organization's.
        #[arg(long)]
        org: Option<String>,
    },
    /// Change a project's settings.
    Update {
        /// Project id.
        id: i64,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// SDK platform ("" clears it).
        #[arg(long)]
        platform: Option<String>,
        /// Days events are kept (1 to 3650).
        #[arg(long)]
        retention_days: Option<i32>,
        /// Share of events kept, 0 to 1.
        #[arg(long)]
        sample_rate: Option<f64>,
        /// Events accepted per minute; 0 = unlimited.
        #[arg(long)]
        rate_limit: Option<i64>,
        /// Events kept per issue and hour at most; the others count in the issue but are not
        /// stored (0 removes the cap).
        #[arg(long)]
        max_events_per_issue_per_hour: Option<i64>,
        /// Scrub secrets and card numbers before storage (true or false).
        #[arg(long)]
        scrub_data: Option<bool>,
        /// Remove IP addresses before storage (true or false).
        #[arg(long)]
        scrub_ip_addresses: Option<bool>,
        /// Extra key fragments to scrub, comma-separated ("" clears them).
        #[arg(long)]
        sensitive_fields: Option<String>,
        /// Keys never scrubbed, comma-separated ("" clears them).
        #[arg(long)]
        safe_fields: Option<String>,
    },
}

/// `mesher key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a DSN key to a project.
    Create {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// A label to tell keys apart.
        #[arg(long, default_value = "Default")]
        label: String,
    },
    /// List a project's keys with their DSNs.
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
    },
    /// Revoke a key: events sent with it are refused from now on.
    Revoke {
        /// The public key (32 hex characters).
        public_key: String,
    },
}

/// `mesher user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        /// Email address, used to sign in.
        #[arg(long)]
        email: String,
        /// Password (at least 8 characters).
        #[arg(long)]
        password: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Make the user a member of this organization (slug).
        #[arg(long)]
        org: Option<String>,
        /// Role in that organization.
        #[arg(long, requires = "org", value_parser = ["owner", "admin", "member"])]
        role: Option<String>,
    },
    /// List users.
    List,
}

/// `mesher token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is printed once and never stored.
    Create {
        /// Email of the user the token acts as.
        #[arg(long)]
        user: String,
        /// What the token may do.
        #[arg(long, value_parser = ["read", "write", "admin"])]
        scope: String,
        /// A label to tell tokens apart.
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// List a user's tokens (never the secrets).
    List {
        /// Email of the user.
        #[arg(long)]
        user: String,
    },
    /// Revoke a token.
    Revoke {
        /// Email of the user.
        #[arg(long)]
        user: String,
        /// Token id (from `token list`).
        id: i64,
    },
}

/// `mesher alert …`
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// List a project's alert rules.
    Rules {
        /// Project id.
        #[arg(long)]
        project: i64,
    },
    /// Add an alert rule; prints it with its webhook signing secret (shown once).
    AddRule(Box<NewRuleArgs>),
    /// Delete an alert rule and its alerts.
    RemoveRule {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Rule id.
        id: i64,
    },
    /// Fire a test alert of a rule (to its actions, whatever the cooldown).
    TestRule {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Rule id.
        id: i64,
    },
    /// List a project's alerts, newest first.
    List {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Only those in this state.
        #[arg(long, value_parser = ["active", "acknowledged", "resolved"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show an alert with its history and its deliveries' attempts.
    Show {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Alert id.
        id: i64,
    },
    /// Acknowledge an alert.
    Ack {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Alert id.
        id: i64,
        /// Why (kept in the history).
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve an alert.
    Resolve {
        /// Project id.
        #[arg(long)]
        project: i64,
        /// Alert id.
        id: i64,
        /// Why (kept in the history).
        #[arg(long)]
        note: Option<String>,
    },
}

/// `mesher alert add-rule`: the rule's trigger, filters and actions as flags.
#[derive(Debug, Args)]
pub struct NewRuleArgs {
    /// Project id.
    #[arg(long)]
    pub project: i64,
    /// A name people recognize.
    #[arg(long)]
    pub name: String,
    /// When it fires.
    #[arg(long, value_parser = ["new_issue", "regression", "escalation", "threshold"])]
    pub trigger: String,
    /// Threshold: fires when the count is more than this.
    #[arg(long)]
    pub count: Option<i64>,
    /// Threshold: the window in minutes (events).
    #[arg(long)]
    pub minutes: Option<i64>,
    /// Threshold: what is counted.
    #[arg(long, value_parser = ["events", "users"])]
    pub metric: Option<String>,
    /// Threshold: per issue or for the whole project.
    #[arg(long, value_parser = ["issue", "project"])]
    pub per: Option<String>,
    /// Threshold: resolve the alert when the count is back under the line.
    #[arg(long)]
    pub auto_resolve: bool,
    /// Only events of this environment.
    #[arg(long)]
    pub environment: Option<String>,
    /// Only events of this level or higher.
    #[arg(long)]
    pub level: Option<String>,
    /// Only events of this release.
    #[arg(long)]
    pub release: Option<String>,
    /// Only events with this tag (`key=value`; repeat for more).
    #[arg(long)]
    pub tag: Vec<String>,
    /// POST each alert to this URL (repeat for more).
    #[arg(long)]
    pub webhook: Vec<String>,
    /// The webhooks' body shape.
    #[arg(long, value_parser = ["generic", "slack", "discord"], default_value = "generic")]
    pub format: String,
    /// E-mail each alert to these addresses, comma-separated ("members" for the
    /// organization's members).
    #[arg(long)]
    pub email: Option<String>,
    /// No second alert for the same issue (or project) within this many minutes.
    #[arg(long, default_value_t = 30)]
    pub cooldown: i64,
    /// Create it switched off.
    #[arg(long)]
    pub disabled: bool,
}
