//! A decompression bomb against the real binary: refused with 413 while the process stays
//! under twice the configured limit in memory (issue 3, acceptance 3).

mod common;

use std::io::Write;

use common::Env;
use mesher_store::testing::Backend;

/// Peak resident memory of a process, in bytes (VmHWM).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

#[tokio::test]
async fn a_gzip_bomb_of_one_gib_is_refused_within_bounded_memory() {
    let env = Env::new(Backend::Sqlite).await;
    let server = env.serve(&[]);
    let (_, key) = server.banner_dsn();

    // 1 GiB of zeros as 1024 concatenated gzip members of 1 MiB each: about 1 MB on the wire.
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&vec![0u8; 1 << 20]).unwrap();
    let member = member.finish().unwrap();
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 1024)
        .collect();
    assert!(bomb.len() < 4 << 20, "the bomb is {} bytes", bomb.len());

    let before = peak_rss(server.child.id());
    let resp = reqwest::Client::new()
        .post(format!("{}/api/1/envelope/", server.url))
        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("104857600"),
        "{body}"
    );

    let limit = 100u64 << 20; // max_envelope_bytes default
    let peak = peak_rss(server.child.id());
    assert!(
        peak < 2 * limit,
        "peak RSS {} MiB (before: {} MiB) must stay under twice the {} MiB limit",
        peak >> 20,
        before >> 20,
        limit >> 20
    );
    let health = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "still serving");
    assert!(server.terminate().success());
}
