//! `mesher serve`: open the database, bootstrap on first start, listen, run until a signal.

use anyhow::Context;
use mesher_server::accounts::{self, BootstrapReport};
use mesher_server::config::{LogFormat, Settings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::commands::open_store;

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_logging(&settings);
    let store = open_store(&settings).await?;
    let report = accounts::bootstrap(
        store.as_ref(),
        &settings.admin_email,
        settings.admin_password.as_ref().map(|p| p.expose()),
    )
    .await
    .context("cannot create the first organization")?;
    let listener =
        bind(settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
    let bound = listener.local_addr()?;
    let public_url = settings.public_url_for(bound);
    // The CLI prints DSNs with the same URL, without repeating the flags.
    store
        .set_meta(mesher_server::PUBLIC_URL_META, public_url.as_str())
        .await
        .context("cannot record the public URL")?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    let mut settings = settings;
    settings.connections.max_connections = connection_cap(settings.connections.max_connections);
    match &report {
        Some(report) => print_banner(report, &public_url),
        None => println!(
            "Mesher listening on {public_url} (database: {})",
            settings.database
        ),
    }
    tracing::info!(%bound, %public_url, database = %settings.database, "serving");

    mesher_server::run(settings, store, listener, shutdown)
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Binds with a deep accept queue: with the usual 128, a burst of connections (a flood of
/// idle ones, or many SDKs at once) overflows it and clients wait a second for the SYN to be
/// sent again (issue 11). The kernel caps the value at `net.core.somaxconn`.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std and tokio do for `bind`: a restarted server can take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Raises the open-file limit to its hard maximum and returns the connection cap that fits
/// under it: past the limit `accept` fails and even `/healthz` goes unanswered (issue 11).
fn connection_cap(configured: usize) -> usize {
    // Sockets beyond connections: the database, the listener, logs, the blocking pool's files.
    const RESERVED: u64 = 256;
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            return configured;
        }
    };
    let fits = usize::try_from(limit.saturating_sub(RESERVED).max(16)).unwrap_or(usize::MAX);
    if fits < configured {
        tracing::warn!(
            max_connections = configured,
            open_file_limit = limit,
            "max_connections lowered to {fits} to stay under the open-file limit"
        );
    }
    configured.min(fits)
}

fn print_banner(report: &BootstrapReport, public_url: &url::Url) {
    let created = &report.created;
    let dsn = accounts::dsn(public_url, &created.key.public_key, created.project.id);
    let password = match &report.generated_password {
        Some(p) => format!("{p}  (generated: shown only this once)"),
        None => "the configured admin_password".to_string(),
    };
    println!(
        "\nMesher is ready: first start, created organization \"{}\" and project \"{}\".\n\n  \
         Dashboard  {public_url}\n  Login      {}\n  Password   {password}\n  DSN        {dsn}\n\n\
         Mesher listening on {public_url}\n",
        created.org.slug, created.project.slug, created.admin.email
    );
}

/// Registers the signal handlers before returning, so that a signal sent as soon as the banner
/// is printed stops the server cleanly instead of killing it with the default action.
fn cancel_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::spawn(async move {
                    tokio::select! {
                        _ = int.recv() => tracing::info!("Ctrl-C: shutting down"),
                        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                    }
                    shutdown.cancel();
                });
                return;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
            }
        }
    }
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C: shutting down");
        shutdown.cancel();
    });
}

fn init_logging(settings: &Settings) {
    // The filter was validated with the configuration.
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
