//! Helpers to run the real `mesher` binary against an isolated database.

#![allow(dead_code)] // Each test binary uses a different subset.

pub mod cluster;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mesher_store::testing::{Backend, TestDb};

/// An isolated database plus a data directory, and the flags that select them.
pub struct Env {
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    pub backend: Backend,
}

impl Env {
    pub async fn new(backend: Backend) -> Env {
        Env {
            db: TestDb::new(backend).await,
            data_dir: tempfile::tempdir().unwrap(),
            backend,
        }
    }

    /// `mesher --data-dir … --database-url … ARGS`, with no `MESHER_*` variables inherited.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesher"));
        for (k, _) in std::env::vars() {
            if k.starts_with("MESHER_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--data-dir")
            .arg(self.data_dir.path())
            .arg("--database-url")
            .arg(self.db.url())
            .args(args);
        cmd
    }

    /// Runs a command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run mesher")
    }

    /// Runs a `--json` command that must succeed, and parses its output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "mesher {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "mesher {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Starts `mesher serve` on a free port and waits until it listens.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Server::start(self.command(&args))
    }
}

/// A running `mesher serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// Everything printed on stdout before it listened.
    pub banner: String,
}

impl Server {
    /// The DSN printed in the first-start banner, and its public key.
    pub fn banner_dsn(&self) -> (String, String) {
        let dsn = self
            .banner
            .lines()
            .find_map(|l| l.trim().strip_prefix("DSN"))
            .expect("a DSN line in the banner")
            .trim()
            .to_string();
        let key = dsn
            .trim_start_matches("http://")
            .split('@')
            .next()
            .unwrap()
            .to_string();
        (dsn, key)
    }

    pub fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mesher serve");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            // Keep the pipe drained; echo to the test's stderr for failures.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[mesher] {line}");
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut banner = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    banner.push_str(&line);
                    banner.push('\n');
                    if let Some(rest) = line.strip_prefix("Mesher listening on ") {
                        let url = rest
                            .split_whitespace()
                            .next()
                            .unwrap()
                            .trim_end_matches('/');
                        return Server {
                            child,
                            url: url.to_string(),
                            banner,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("mesher serve did not start listening; stdout so far:\n{banner}");
                }
            }
        }
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("mesher did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Those of `ids` (acknowledged events of project `project`) that are not stored.
pub async fn missing_events(
    store: &dyn mesher_store::Store,
    project: i64,
    ids: &[String],
) -> Vec<String> {
    let mut missing = Vec::new();
    for id in ids {
        let event_id = mesher_protocol::EventId::parse(id).unwrap();
        if store.event(project, event_id).await.unwrap().is_none() {
            missing.push(id.clone());
        }
    }
    missing
}
