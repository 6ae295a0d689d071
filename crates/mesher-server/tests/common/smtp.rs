//! A real SMTP server for the alert e-mail tests: Python's aiosmtpd
//! (`tests/python/smtp_sink.py`), started by the test and killed with it.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// aiosmtpd, killed when dropped.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free port of 127.0.0.1.
    pub fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/smtp_sink.py");
        let mut child = Command::new(super::python())
            .arg(&script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
        else {
            let status = child.wait().unwrap();
            panic!(
                "the SMTP sink did not start ({status}; is aiosmtpd installed? \
                 pip install -r scripts/requirements-test.txt): {line:?}"
            );
        };
        SmtpSink { child, port, dir }
    }

    /// How many messages arrived so far.
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// The `n`-th message received (from 1), as sent and its text decoded, waiting up to 10 s
    /// for it.
    pub async fn message(&self, n: usize) -> (String, String) {
        let path = self.dir.path().join(format!("{n}.eml"));
        for _ in 0..100 {
            if let Ok(raw) = std::fs::read_to_string(&path) {
                let text =
                    std::fs::read_to_string(self.dir.path().join(format!("{n}.txt"))).unwrap();
                return (raw, text);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("message {n} never arrived at the SMTP sink");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
