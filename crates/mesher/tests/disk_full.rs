//! A full disk (issue 11): when SQLite cannot write, ingest answers 503 with `Retry-After`,
//! nothing is acknowledged that was not committed, and the node recovers by itself when space
//! returns. The database lives on a small tmpfs that the test mounts (root is needed, as on the
//! machines and CI that run these tests; without it the test fails, it never skips).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use mesher_store::DatabaseUrl;
use serde_json::json;

/// A tmpfs of a given size, unmounted on drop.
struct SmallDisk {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk {
            path,
            _parent: parent,
        }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remount to {size}");
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// An event of about 40 KB that compresses poorly (hex of pseudo-random bytes).
fn big_event(i: usize) -> serde_json::Value {
    let mut seed = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let noise: String = (0..20_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            format!("{:02x}", seed as u8)
        })
        .collect();
    json!({"message": format!("disk filler {i}"), "extra": {"noise": noise}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_keeps_every_acknowledged_event_and_recovers() {
    let disk = SmallDisk::mount("3m");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesher"));
    for (k, _) in std::env::vars() {
        if k.starts_with("MESHER_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--data-dir")
        .arg(disk.path())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let server = Server::start(cmd);
    let (_, key) = server.banner_dsn();
    let client = reqwest::Client::new();
    let send = |i: usize| {
        let (client, url, key) = (client.clone(), server.url.clone(), key.clone());
        async move {
            client
                .post(format!("{url}/api/1/store/"))
                .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
                .json(&big_event(i))
                .send()
                .await
                .unwrap()
        }
    };

    // Fill the disk.
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    let mut i = 0;
    while refused < 3 {
        i += 1;
        assert!(i < 2_000, "3 MiB never filled up");
        let r = send(i).await;
        match r.status().as_u16() {
            200 => {
                let body: serde_json::Value = r.json().await.unwrap();
                acknowledged.push(body["id"].as_str().unwrap().to_string());
            }
            503 => {
                assert!(
                    r.headers().contains_key("retry-after"),
                    "503 without Retry-After"
                );
                refused += 1;
            }
            other => panic!("a full disk answered {other}: {}", r.text().await.unwrap()),
        }
    }
    assert!(!acknowledged.is_empty());
    let health = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the node is still up");

    // Space returns: the node takes events again by itself.
    disk.resize("64m");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        i += 1;
        let r = send(i).await;
        if r.status() == 200 {
            let body: serde_json::Value = r.json().await.unwrap();
            acknowledged.push(body["id"].as_str().unwrap().to_string());
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(
            Instant::now() < deadline,
            "no recovery after space returned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "disk full after {} acknowledged events ({refused} answered 503); recovered",
        acknowledged.len() - 1
    );
    assert!(server.terminate().success());

    // Every acknowledged event is in the database.
    let store = mesher_store::connect(&DatabaseUrl::default_in(disk.path()))
        .await
        .unwrap();
    for id in &acknowledged {
        let event_id = mesher_protocol::EventId::parse(id).unwrap();
        assert!(
            store.event(1, event_id).await.unwrap().is_some(),
            "acknowledged event {id} is missing"
        );
    }
}
