//! `mesher serve` from the outside: first start, restart, health, shutdown, and bad
//! configuration ending in one clear line.

mod common;

use std::process::Command;

use common::Env;
use mesher_store::testing::Backend;

#[tokio::test]
async fn first_start_bootstraps_and_restart_reuses_sqlite() {
    start_and_restart(Env::new(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn first_start_bootstraps_and_restart_reuses_postgres() {
    start_and_restart(Env::new(Backend::Postgres).await).await;
}

async fn start_and_restart(env: Env) {
    let server = env.serve(&[]);
    assert!(
        server.banner.contains("Mesher is ready"),
        "{}",
        server.banner
    );
    assert!(server.banner.contains("admin@mesher.local"));
    let dsn_line = server
        .banner
        .lines()
        .find(|l| l.trim_start().starts_with("DSN"))
        .unwrap();
    assert!(
        dsn_line.contains(&format!("@{}/1", server.url.trim_start_matches("http://"))),
        "{dsn_line}"
    );

    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            "mesher_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );

    let status = server.terminate();
    assert!(status.success(), "SIGTERM must exit 0, got {status}");

    let again = env.serve(&[]);
    assert!(
        !again.banner.contains("Mesher is ready"),
        "{}",
        again.banner
    );
    let orgs = env.json(&["org", "list"]);
    assert_eq!(orgs.as_array().unwrap().len(), 1, "no second bootstrap");
    assert!(again.terminate().success());
}

#[tokio::test]
async fn admin_password_from_the_environment_is_used() {
    let env = Env::new(Backend::Sqlite).await;
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("MESHER_ADMIN_PASSWORD", "12345678")
        .env("MESHER_ADMIN_EMAIL", "ops@example.com");
    let server = common::Server::start(cmd);
    assert!(server.banner.contains("ops@example.com"));
    assert!(!server.banner.contains("generated"), "{}", server.banner);
    let store = env.db.store();
    let user = store
        .user_by_email("ops@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(mesher_server::accounts::verify_password(
        &user.password_hash,
        "12345678"
    ));
}

/// Runs the binary expecting failure; returns its stderr, checked to be one clean line.
fn fails_cleanly(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "exit status {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    stderr
}

#[tokio::test]
async fn bad_configuration_ends_with_one_clear_line() {
    let env = Env::new(Backend::Sqlite).await;

    let file = env.data_dir.path().join("mesher.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nlisten_port = 9\n").unwrap();
    let err = fails_cleanly(env.command(&["--config", file.to_str().unwrap(), "serve"]));
    assert!(
        err.contains("unknown field") && err.contains("listen_port"),
        "{err}"
    );

    let err = fails_cleanly(env.command(&["--config", "/nonexistent.toml", "serve"]));
    assert!(err.contains("does not exist"), "{err}");

    let err = fails_cleanly(env.command(&["serve", "--public-url", "not a url"]));
    assert!(err.contains("public_url"), "{err}");

    // From the environment (env.command would pass --database-url, which wins over it).
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesher"));
    cmd.env("MESHER_DATABASE_URL", "mysql://localhost/x")
        .arg("serve");
    let err = fails_cleanly(cmd);
    assert!(
        err.contains("database_url") && err.contains("mysql"),
        "{err}"
    );

    // trusted_proxies: comma-separated in the environment, a list in a file; every bad entry
    // is named.
    let mut cmd = env.command(&["serve"]);
    cmd.env("MESHER_TRUSTED_PROXIES", "127.0.0.1/32, proxy.local");
    let err = fails_cleanly(cmd);
    assert!(
        err.contains("trusted_proxies") && err.contains("proxy.local"),
        "{err}"
    );
    std::fs::write(
        &file,
        "trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n",
    )
    .unwrap();
    let err = fails_cleanly(env.command(&["--config", file.to_str().unwrap(), "serve"]));
    assert!(
        err.contains("trusted_proxies") && err.contains("10.0.0.0/40"),
        "{err}"
    );
    let mut cmd = env.command(&["org", "list", "--json"]);
    cmd.env("MESHER_TRUSTED_PROXIES", "127.0.0.1/32,10.0.0.0/8,::1");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "valid proxies are accepted: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let err = fails_cleanly(env.command(&[
        "serve",
        "--database-url",
        "postgres://postgres:hunter2@127.0.0.1:1/test",
    ]));
    assert!(
        err.contains("cannot connect to PostgreSQL at 127.0.0.1:1"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = fails_cleanly(env.command(&["serve", "--listen", &addr]));
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

/// Issue 13: the allocator's memory is not backed by transparent huge pages, whatever the
/// kernel's THP mode (with them, every 4 KiB touched made 2 MiB resident and a node under
/// large events held 220–300 MiB instead of about 65).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_server_runs_without_transparent_huge_pages() {
    let env = Env::new(Backend::Sqlite).await;
    let server = env.serve(&[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let thp = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(thp, Some("0"), "{status}");
    assert!(server.terminate().success());
}
