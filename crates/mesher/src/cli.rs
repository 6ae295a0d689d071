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
