//! The public edge of the real binary under attack (issue 11, acceptance 2 and 3): decompression
//! bombs from 64 clients at once, and 20,000 idle connections. Each test prints the figures it
//! measured (run with `--nocapture` to see them).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Env;
use mesher_store::testing::Backend;

/// The two tests measure latency: they must not load the machine for each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// A 200 KB gzip envelope that inflates to 200 MiB: gzip members of 1 MiB of zeros each after
/// a header line, as the outside review sent it.
fn bomb() -> Vec<u8> {
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let member = gz(&vec![0u8; 1 << 20]);
    let mut body = gz(b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n");
    for _ in 0..200 {
        body.extend_from_slice(&member);
    }
    body
}

/// Polls `/healthz` every 10 ms until `stop`, on a thread of its own with a plain socket (so
/// that the test's own async load does not delay it), recording the slowest answer (in µs) and
/// any failure.
fn watch_health(
    url: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64, Vec<String>)> {
    use std::io::Read;
    let addr = url.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        let (mut slowest, mut polls, mut failures) = (0u64, 0u64, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let answer = (|| -> std::io::Result<String> {
                let mut s = std::net::TcpStream::connect(&addr)?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                Ok(out)
            })();
            match answer {
                Ok(a) if a.starts_with("HTTP/1.1 200") => {}
                Ok(a) => failures.push(a.lines().next().unwrap_or_default().to_string()),
                Err(e) => failures.push(e.to_string()),
            }
            slowest = slowest.max(started.elapsed().as_micros() as u64);
            polls += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        (slowest, polls, failures)
    })
}

/// Acceptance 2: 64 concurrent bombs with the valid key and 64 with a bogus one. Peak RSS stays
/// under 300 MiB and `/healthz` answers within 100 ms throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_from_64_clients_keep_memory_bounded_and_health_fast() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let env = Env::new(Backend::Sqlite).await;
    let server = env.serve(&[]);
    let (_, key) = server.banner_dsn();
    let body = bomb();
    assert!(body.len() < 300 << 10, "the bomb is {} bytes", body.len());
    let before = peak_rss(server.child.id());

    let stop = Arc::new(AtomicBool::new(false));
    let health = watch_health(server.url.clone(), stop.clone());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..128 {
        let auth = if i % 2 == 0 {
            format!("Sentry sentry_key={key}")
        } else {
            "Sentry sentry_key=0123456789abcdef0123456789abcdef".to_string()
        };
        let (client, url, body) = (client.clone(), server.url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{url}/api/1/envelope/"))
                .header("x-sentry-auth", auth)
                .header("content-encoding", "gzip")
                .body(body)
                .send()
                .await
                .unwrap();
            (i % 2 == 0, r.status().as_u16())
        }));
    }
    let (mut valid, mut bogus) = (std::collections::BTreeMap::new(), 0);
    for t in tasks {
        let (is_valid, status) = t.await.unwrap();
        if is_valid {
            *valid.entry(status).or_insert(0) += 1;
        } else {
            assert_eq!(
                status, 403,
                "a bogus key is refused before its body is read"
            );
            bogus += 1;
        }
    }
    let took = started.elapsed();
    // Keep watching a moment after the burst.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (slowest_us, polls, failures) = health.join().unwrap();
    let peak = peak_rss(server.child.id());
    eprintln!(
        "64+64 bombs in {took:?}: valid key answered {valid:?}, bogus key 403 x{bogus}; \
         peak RSS {} MiB (before {} MiB); /healthz slowest {:.1} ms over {polls} polls",
        peak >> 20,
        before >> 20,
        slowest_us as f64 / 1000.0
    );
    assert_eq!(bogus, 64);
    assert_eq!(
        valid
            .keys()
            .copied()
            .filter(|s| *s != 413 && *s != 503)
            .count(),
        0,
        "a bomb with a valid key gets 413 at the limit or 503 when the budget is spent: {valid:?}"
    );
    assert!(
        valid.get(&413).is_some(),
        "at least one was inflated to its limit: {valid:?}"
    );
    assert!(failures.is_empty(), "/healthz failed: {failures:?}");
    assert!(polls > 5);
    assert!(
        slowest_us < 100_000,
        "/healthz took {} ms at worst",
        slowest_us / 1000
    );
    assert!(peak < 300 << 20, "peak RSS {} MiB", peak >> 20);
    assert!(server.terminate().success());
}

/// Opens `n` idle TCP connections from a child process (this process's own file limit would
/// not hold them next to the server's) and keeps them until the returned guard is dropped.
struct IdleClients(std::process::Child);

impl IdleClients {
    fn open(addr: &str, n: usize) -> IdleClients {
        let (host, port) = addr.rsplit_once(':').unwrap();
        let script = "
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket()
    s.connect((host, port))
    socks.append(s)
print('open', len(socks), flush=True)
sys.stdin.read()
";
        let mut child = Command::new("python3")
            .args(["-c", script, host, port, &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the idle clients");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            format!("open {n}"),
            "the idle clients connected"
        );
        IdleClients(child)
    }
}

impl Drop for IdleClients {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Acceptance 3: with 20,000 idle connections open (twice `max_connections`), new clients are
/// still answered, and the idle ones are closed by the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_idle_connections_do_not_starve_new_clients() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let env = Env::new(Backend::Sqlite).await;
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    // Long enough that room is made by closing idle connections, not by their timeout.
    cmd.env("MESHER_IDLE_TIMEOUT_SECS", "300");
    let server = common::Server::start(cmd);
    let addr = server.url.trim_start_matches("http://").to_string();

    let started = Instant::now();
    let mut groups = Vec::new();
    for _ in 0..4 {
        groups.push(IdleClients::open(&addr, 5_000));
    }
    let opened = started.elapsed();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let slowest = Arc::new(AtomicU64::new(0));
    for _ in 0..20 {
        let t = Instant::now();
        let r = client
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .expect("a new client is answered while 20,000 connections idle");
        assert_eq!(r.status(), 200);
        slowest.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
    let metrics = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    let open = value("mesher_connections_open");
    let evicted = value("mesher_connections_evicted_total");
    eprintln!(
        "20,000 idle connections opened in {opened:?}; /healthz slowest {:.1} ms; \
         {open} open, {evicted} closed to make room",
        slowest.load(Ordering::Relaxed) as f64 / 1000.0
    );
    assert!(open <= 10_000.0, "{open} connections open over the cap");
    assert!(evicted >= 9_000.0, "{evicted}");
    drop(groups);
    assert!(server.terminate().success());
}
