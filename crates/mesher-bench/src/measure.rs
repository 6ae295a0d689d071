//! Measurements from outside the request path: process figures from `/proc`, and what the
//! database holds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

/// Clock ticks per second in `/proc/<pid>/stat`. Linux fixes `USER_HZ` at 100 for that file on
/// every architecture it exports it for, so there is no need to ask `sysconf`.
const USER_HZ: f64 = 100.0;

/// User plus system CPU time of a process (`None`: this one), in seconds.
pub fn cpu_seconds(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    read_cpu_seconds(&path)
}

/// User plus system CPU time of the calling thread, in seconds.
pub fn thread_cpu_seconds() -> anyhow::Result<f64> {
    read_cpu_seconds("/proc/thread-self/stat")
}

fn read_cpu_seconds(path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    parse_cpu_seconds(&stat).with_context(|| format!("unexpected format of {path}"))
}

fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces; count after it.
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// The peak resident set size of a process (`VmHWM`), in bytes.
pub fn peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_vm_hwm(&status).with_context(|| format!("no VmHWM line in {path}"))
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The current resident set size of a process (`VmRSS`), in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status_kib(&status, "VmRSS:")
        .map(|k| k * 1024)
        .with_context(|| format!("no VmRSS line in {path}"))
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.trim_start_matches(key)
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// One measured start.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    /// From spawning the process until `/readyz` answered 200.
    pub ready: Duration,
    /// RSS after idling.
    pub idle_rss_bytes: u64,
}

/// Starts `mesher` on an empty data directory `dir` (plus `extra` arguments), polls `/readyz`
/// every millisecond until it answers 200, lets it idle for `idle_secs`, reads its RSS and
/// stops it.
pub async fn startup(
    mesher: &Path,
    dir: &Path,
    extra: &[String],
    idle_secs: f64,
) -> anyhow::Result<Startup> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(mesher)
        .arg("--data-dir")
        .arg(dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", mesher.display()))?;
    let pid = child.id();
    let result = ready_then_idle(&mut child, started, port, idle_secs).await;
    // SIGTERM: a graceful stop, as an operator would; then SIGKILL if it does not stop.
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    for _ in 0..1000 {
        if child.try_wait()?.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if child.try_wait()?.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (ready, idle_rss_bytes) = result?;
    Ok(Startup {
        ready,
        idle_rss_bytes,
    })
}

async fn ready_then_idle(
    child: &mut std::process::Child,
    started: std::time::Instant,
    port: u16,
    idle_secs: f64,
) -> anyhow::Result<(Duration, u64)> {
    let request =
        format!("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let ready = loop {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server was not ready within 30 s");
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server exited with {status} before it was ready");
        }
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut answer = Vec::new();
            if stream.write_all(request.as_bytes()).await.is_ok()
                && stream.read_to_end(&mut answer).await.is_ok()
                && answer.starts_with(b"HTTP/1.1 200")
            {
                break started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    tokio::time::sleep(Duration::from_secs_f64(idle_secs)).await;
    Ok((ready, rss_bytes(child.id())?))
}

/// A server's database, to count its events and weigh them.
#[derive(Debug, Clone)]
pub enum Database {
    /// The SQLite file `mesher.db` in a data directory.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (a `search_path` in `options` is honoured).
    Postgres(String),
}

/// The database's size against its event count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    /// Bytes: `mesher.db` plus its WAL after a checkpoint, or the `events` and `issues`
    /// relations with their indexes and TOAST on PostgreSQL.
    pub bytes: u64,
    /// Events stored (every project).
    pub events: u64,
}

impl Database {
    /// The SQLite database of a data directory.
    pub fn sqlite(data_dir: &Path) -> Database {
        Database::Sqlite(data_dir.join("mesher.db"))
    }

    /// Events stored for `project_id`.
    pub async fn count(&self, project_id: i64) -> anyhow::Result<u64> {
        match self {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = open_sqlite(&path)?;
                    let n: i64 = conn.query_row(
                        "SELECT count(*) FROM events WHERE project_id = ?1",
                        [project_id],
                        |r| r.get(0),
                    )?;
                    Ok(n as u64)
                })
                .await?
            }
            Database::Postgres(url) => {
                let client = connect_pg(url).await?;
                let n: i64 = client
                    .query_one(
                        "SELECT count(*) FROM events WHERE project_id = $1",
                        &[&project_id],
                    )
                    .await?
                    .get(0);
                Ok(n as u64)
            }
        }
    }

    /// The event ids of `project_id` in the order the server stored them (row order: one writer
    /// per node assigns rows in commit order), as numbers.
    pub async fn commit_order(&self, project_id: i64) -> anyhow::Result<Vec<u128>> {
        let hex: Vec<String> = match self {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
                    let conn = open_sqlite(&path)?;
                    let mut stmt = conn.prepare(
                        "SELECT hex(event_id) FROM events WHERE project_id = ?1 ORDER BY id",
                    )?;
                    let rows = stmt.query_map([project_id], |r| r.get(0))?;
                    Ok(rows.collect::<Result<_, _>>()?)
                })
                .await??
            }
            Database::Postgres(url) => {
                let client = connect_pg(url).await?;
                client
                    .query(
                        "SELECT replace(event_id::text, '-', '') FROM events \
                         WHERE project_id = $1 ORDER BY id",
                        &[&project_id],
                    )
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect()
            }
        };
        hex.iter()
            .map(|h| u128::from_str_radix(h, 16).with_context(|| format!("event id {h:?}")))
            .collect()
    }

    /// Checkpoints (SQLite) and measures the bytes events take.
    pub async fn footprint(&self) -> anyhow::Result<Footprint> {
        match self {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = open_sqlite(&path)?;
                    // TRUNCATE moves every WAL frame into the main file and empties the WAL,
                    // so the sum below counts each page once. The server may still be running
                    // and reading: then some frames stay, and are counted where they are.
                    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                    let events: i64 =
                        conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
                    let mut wal = path.clone().into_os_string();
                    wal.push("-wal");
                    let bytes = file_size(&path)? + file_size(Path::new(&wal)).unwrap_or(0);
                    Ok(Footprint {
                        bytes,
                        events: events as u64,
                    })
                })
                .await?
            }
            Database::Postgres(url) => {
                let client = connect_pg(url).await?;
                let row = client
                    .query_one(
                        // `events` is partitioned: its own size is 0, its partitions hold the rows.
                        "SELECT (SELECT sum(pg_total_relation_size(relid))::bigint \
                                 FROM pg_partition_tree('events')) \
                              + pg_total_relation_size('issues'), \
                         (SELECT count(*) FROM events)",
                        &[],
                    )
                    .await?;
                let bytes: i64 = row.get(0);
                let events: i64 = row.get(1);
                Ok(Footprint {
                    bytes: bytes as u64,
                    events: events as u64,
                })
            }
        }
    }

    /// Polls until `project_id` holds at least `target` events or `timeout` passes; returns the
    /// last count seen.
    pub async fn wait_for(
        &self,
        project_id: i64,
        target: u64,
        timeout: Duration,
    ) -> anyhow::Result<u64> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let n = self.count(project_id).await?;
            if n >= target || tokio::time::Instant::now() >= deadline {
                return Ok(n);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The database's size, read without disturbing a running server: `mesher.db` plus its
    /// WAL as they are (no checkpoint), or `pg_database_size`.
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        match self {
            Database::Sqlite(path) => {
                let mut wal = path.clone().into_os_string();
                wal.push("-wal");
                Ok(file_size(path)? + file_size(Path::new(&wal)).unwrap_or(0))
            }
            Database::Postgres(url) => {
                let client = connect_pg(url).await?;
                let bytes: i64 = client
                    .query_one("SELECT pg_database_size(current_database())", &[])
                    .await?
                    .get(0);
                Ok(bytes as u64)
            }
        }
    }

    /// Events of `project_id` whose timestamp is more than `days` days old: what retention
    /// has yet to delete.
    pub async fn count_older_than(&self, project_id: i64, days: i64) -> anyhow::Result<u64> {
        let cutoff_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
            - days * 86_400_000;
        match self {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = open_sqlite(&path)?;
                    let n: i64 = conn.query_row(
                        "SELECT count(*) FROM events WHERE project_id = ?1 AND timestamp < ?2",
                        [project_id, cutoff_ms],
                        |r| r.get(0),
                    )?;
                    Ok(n as u64)
                })
                .await?
            }
            Database::Postgres(url) => {
                let client = connect_pg(url).await?;
                let n: i64 = client
                    .query_one(
                        "SELECT count(*) FROM events WHERE project_id = $1 \
                         AND timestamp < to_timestamp($2::bigint / 1000.0)",
                        &[&project_id, &cutoff_ms],
                    )
                    .await?
                    .get(0);
                Ok(n as u64)
            }
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}

fn open_sqlite(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    if !path.exists() {
        bail!("no SQLite database at {}", path.display());
    }
    // Read-write without create: the checkpoint writes, and a typo must not make a new file.
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .with_context(|| format!("cannot open {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn file_size(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len())
}

async fn connect_pg(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("cannot connect to PostgreSQL")?;
    // The connection ends when the client is dropped; its error, if any, reaches the queries.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_from_stat_with_a_tricky_command_name() {
        let stat =
            "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 150 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_cpu_seconds(stat), Some(4.0));
        assert_eq!(parse_cpu_seconds("garbage"), None);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(cpu_seconds(None).unwrap() >= 0.0);
        assert!(thread_cpu_seconds().unwrap() >= 0.0);
        assert!(peak_rss_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn vm_hwm() {
        let status = "Name:\tmesher\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(51200 * 1024));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
    }
}
