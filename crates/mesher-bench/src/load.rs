//! The load: `C` keep-alive HTTP/1.1 connections replaying the corpus.
//!
//! Each connection is one task that sends one request at a time (closed loop), so `C` is both
//! the number of connections and the number of requests in flight. Templates are replayed
//! round-robin (event `n` uses template `n mod len`), so every run of the same length sends the
//! same mix. Responses other than 2xx are counted, never retried: a 429 or 503 is a figure of
//! the run, not something to hide.
//!
//! With a target rate the load is open-loop instead: event `n` is due at `start + n / rate` and
//! its latency is measured from that moment, not from when a connection got free to send it, so
//! a server that stalls is charged for the events that queued behind the stall (the
//! "coordinated omission" correction wrk2 makes). Without a rate, latency is measured from the
//! send.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use mesher_protocol::Dsn;
use tokio::net::TcpStream;

use crate::corpus::{IdSource, Stamp, Template};

/// gzip level sentry-python uses when brotli is not installed (`gzip.GzipFile(compresslevel=9)`).
pub const SDK_GZIP_LEVEL: u32 = 9;

/// Where requests go and how they authenticate.
#[derive(Debug, Clone)]
pub struct Target {
    /// The address connected to.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The request path.
    pub path: String,
    /// The project id from the DSN.
    pub project_id: i64,
    /// The `X-Sentry-Auth` header.
    pub auth: String,
}

impl Target {
    /// The envelope endpoint of `dsn`, or `path` with `{id}` replaced by the DSN's project id
    /// (e.g. `/api/{id}/envelope-sink/`). Resolves the host once, here.
    pub async fn from_dsn(dsn: &str, path: Option<&str>) -> anyhow::Result<Target> {
        let dsn = Dsn::parse(dsn).context("invalid DSN")?;
        ensure!(
            dsn.scheme == "http",
            "only http:// DSNs are supported (the generator speaks plain HTTP/1.1)"
        );
        let project_id: i64 = dsn.project_id.parse().with_context(|| {
            format!("the DSN's project id {:?} is not a number", dsn.project_id)
        })?;
        let port = dsn.port.unwrap_or(80);
        let authority = format!("{}:{port}", dsn.host);
        let addr = tokio::net::lookup_host(&authority)
            .await
            .with_context(|| format!("cannot resolve {authority}"))?
            .next()
            .with_context(|| format!("{authority} resolves to no address"))?;
        let path = match path {
            Some(template) => template.replace("{id}", &dsn.project_id),
            None => format!("{}/api/{}/envelope/", dsn.path_prefix, dsn.project_id),
        };
        Ok(Target {
            addr,
            host: authority,
            path,
            project_id,
            auth: format!(
                "Sentry sentry_key={}, sentry_version=7, sentry_client=mesher-bench/{}",
                dsn.public_key,
                env!("CARGO_PKG_VERSION")
            ),
        })
    }

    /// `http://host:port/path`, for reports.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.host, self.path)
    }
}

/// How much load, and how.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Connections, each with one request in flight.
    pub connections: usize,
    /// Stop after this many events.
    pub events: Option<u64>,
    /// Stop sending after this long.
    pub duration: Option<Duration>,
    /// Events per second to aim for (open loop); `None` sends as fast as answers come.
    pub rate: Option<f64>,
    /// Compress bodies with gzip, as sentry-python does without brotli.
    pub gzip: bool,
}

impl LoadConfig {
    /// The number of events the run will send, when known in advance.
    pub fn planned_events(&self) -> Option<u64> {
        let by_rate = match (self.rate, self.duration) {
            (Some(rate), Some(d)) => Some((rate * d.as_secs_f64()).ceil() as u64),
            _ => None,
        };
        match (self.events, by_rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.connections > 0, "at least one connection is needed");
        ensure!(
            self.events.is_some() || self.duration.is_some(),
            "give a number of events, a duration, or both"
        );
        if let Some(rate) = self.rate {
            ensure!(rate.is_finite() && rate > 0.0, "the rate must be positive");
        }
        Ok(())
    }
}

/// What a run saw, before any database or process measurement.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Requests attempted (responses plus transport errors).
    pub sent: u64,
    /// Responses by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no response (connection refused, reset, …).
    pub transport_errors: u64,
    /// The first transport error, to say what went wrong.
    pub first_error: Option<String>,
    /// Latency of each 2xx response, in microseconds.
    pub latencies_us: Vec<u64>,
    /// From the start until the last response of any kind.
    pub elapsed: Duration,
    /// From the start until the last 2xx response.
    pub last_2xx: Option<Duration>,
    /// Request body bytes sent (compressed when gzip).
    pub wire_bytes: u64,
    /// Envelope bytes sent, before compression.
    pub envelope_bytes: u64,
    /// Whether bodies were rendered (and compressed) before the clock started.
    pub prebuilt: bool,
    /// The numbers (`seq`) of the events answered 2xx, in no particular order: what the live
    /// stream's subscribers must receive.
    pub acked: Vec<u64>,
    /// The numbers of the events whose request got no answer: the server may have stored them.
    pub unanswered: Vec<u64>,
}

impl LoadOutcome {
    /// Responses with a 2xx status.
    pub fn accepted(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds another connection's (or generator's) outcome to this one.
    pub fn merge(&mut self, other: LoadOutcome) {
        self.sent += other.sent;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.latencies_us.extend(other.latencies_us);
        self.elapsed = self.elapsed.max(other.elapsed);
        self.last_2xx = self.last_2xx.max(other.last_2xx);
        self.wire_bytes += other.wire_bytes;
        self.envelope_bytes += other.envelope_bytes;
        self.acked.extend(other.acked);
        self.unanswered.extend(other.unanswered);
    }
}

/// Request bodies, rendered before the run or per request.
enum Bodies {
    /// Everything the run sends, gzip-compressed before the clock started: compressing at the
    /// SDK's level 9 costs about a millisecond per typical envelope, CPU the generator would
    /// otherwise take from the server it measures.
    Prebuilt(Vec<(Bytes, usize)>),
    /// Rendered (and compressed) when sent.
    Live { gzip: bool },
}

impl Bodies {
    /// The body of event `seq` and its uncompressed size.
    fn get(
        &self,
        templates: &[Template],
        ids: &IdSource,
        seq: u64,
    ) -> anyhow::Result<(Bytes, usize)> {
        match self {
            Bodies::Prebuilt(bodies) => bodies
                .get(seq as usize)
                .cloned()
                .context("event beyond the prebuilt bodies"),
            Bodies::Live { gzip } => render(templates, seq, ids, *gzip),
        }
    }
}

fn render(
    templates: &[Template],
    seq: u64,
    ids: &IdSource,
    gzip: bool,
) -> anyhow::Result<(Bytes, usize)> {
    let template = &templates[(seq % templates.len() as u64) as usize];
    let mut raw = Vec::with_capacity(template.len());
    template.render_into(&mut raw, &ids.id_at(seq), &Stamp::now());
    let len = raw.len();
    let body = if gzip {
        gzip_level(&raw, SDK_GZIP_LEVEL)?
    } else {
        raw
    };
    Ok((Bytes::from(body), len))
}

/// gzip-compresses `data` at `level`.
pub fn gzip_level(data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::new(level));
    encoder.write_all(data)?;
    encoder.finish()
}

/// Renders `count` bodies on every core.
fn prebuild(
    templates: &[Template],
    ids: &IdSource,
    count: u64,
    gzip: bool,
) -> anyhow::Result<Vec<(Bytes, usize)>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let chunk = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk as usize)
            .map(|from| {
                scope.spawn(move || {
                    (from..(from + chunk).min(count))
                        .map(|seq| render(templates, seq, ids, gzip))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut bodies = Vec::with_capacity(count as usize);
        for handle in handles {
            match handle.join() {
                Ok(part) => bodies.extend(part?),
                Err(_) => bail!("a thread rendering bodies panicked"),
            }
        }
        Ok(bodies)
    })
}

/// What every connection task shares.
struct Shared {
    target: Target,
    uri: Uri,
    headers: HeaderMap,
    templates: Arc<Vec<Template>>,
    ids: Arc<IdSource>,
    bodies: Bodies,
    next: AtomicU64,
    limit: Option<u64>,
    duration: Option<Duration>,
    rate: Option<f64>,
}

/// One answer (or transport failure) as it happens, for [`Run::start_observed`].
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// The HTTP status; `None` when the request got no answer.
    pub status: Option<u16>,
    /// From when the event was due (open loop) or sent, to the answer.
    pub latency: Duration,
}

/// Called with every [`Answer`], on the connection's task: it must not block.
pub type Observer = Arc<dyn Fn(Answer) + Send + Sync>;

/// A run ready to start: headers validated and, with gzip and a known number of events,
/// every body rendered and compressed.
pub struct Run {
    shared: Arc<Shared>,
    connections: usize,
}

/// Prepares a run. Bodies are prebuilt when gzip is on and the number of events is known, so
/// that the clock, started by [`Run::start`], measures the server and not the compressor.
/// Event `seq` gets the id `ids.id_at(seq)`: give every run a fresh source, or ids repeat.
pub async fn prepare(
    target: Target,
    templates: Arc<Vec<Template>>,
    ids: Arc<IdSource>,
    config: &LoadConfig,
) -> anyhow::Result<Run> {
    config.validate()?;
    ensure!(!templates.is_empty(), "the corpus is empty");
    let uri: Uri = target
        .path
        .parse()
        .with_context(|| format!("invalid request path {:?}", target.path))?;
    let headers = headers(&target, config.gzip)?;
    let planned = config.planned_events();
    let bodies = match planned {
        Some(count) if config.gzip => {
            let (templates, ids) = (templates.clone(), ids.clone());
            Bodies::Prebuilt(
                tokio::task::spawn_blocking(move || prebuild(&templates, &ids, count, true))
                    .await??,
            )
        }
        _ => Bodies::Live { gzip: config.gzip },
    };
    Ok(Run {
        shared: Arc::new(Shared {
            target,
            uri,
            headers,
            templates,
            ids,
            bodies,
            next: AtomicU64::new(0),
            limit: planned,
            duration: config.duration,
            rate: config.rate,
        }),
        connections: config.connections,
    })
}

/// The headers of every envelope request.
fn headers(target: &Target, gzip: bool) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_str(&target.host)?);
    headers.insert("x-sentry-auth", HeaderValue::from_str(&target.auth)?);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-sentry-envelope"),
    );
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("mesher-bench/", env!("CARGO_PKG_VERSION"))),
    );
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(headers)
}

/// Sends one envelope (uncompressed) on a connection of its own; its status.
pub async fn send_one(target: &Target, envelope: Vec<u8>) -> anyhow::Result<u16> {
    let uri: Uri = target.path.parse()?;
    let mut sender = connect(target.addr).await?;
    let mut request = Request::new(Full::new(Bytes::from(envelope)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers(target, false)?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

impl Run {
    /// Starts the clock and the connections; returns when the last one is done.
    pub async fn start(self) -> anyhow::Result<LoadOutcome> {
        self.run(None).await
    }

    /// Like [`Run::start`], but hands every answer to `observer` as it comes instead of
    /// keeping latencies and event numbers in the outcome: a soak's memory stays flat, and its
    /// figures are per minute rather than for the whole run.
    pub async fn start_observed(self, observer: Observer) -> anyhow::Result<LoadOutcome> {
        self.run(Some(observer)).await
    }

    async fn run(self, observer: Option<Observer>) -> anyhow::Result<LoadOutcome> {
        let start = Instant::now();
        let tasks: Vec<_> = (0..self.connections)
            .map(|_| tokio::spawn(connection(self.shared.clone(), start, observer.clone())))
            .collect();
        let mut outcome = LoadOutcome {
            prebuilt: matches!(self.shared.bodies, Bodies::Prebuilt(_)),
            ..LoadOutcome::default()
        };
        for task in tasks {
            outcome.merge(task.await.context("a connection task panicked")??);
        }
        Ok(outcome)
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    // Requests are written whole; Nagle would only delay the last segment of each.
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection's own errors reach the sender as failed requests; nothing to do here.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One connection: takes the next event, sends it, records the answer, until the run ends.
async fn connection(
    shared: Arc<Shared>,
    start: Instant,
    observer: Option<Observer>,
) -> anyhow::Result<LoadOutcome> {
    let mut out = LoadOutcome::default();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let note_error = |out: &mut LoadOutcome, e: &dyn std::fmt::Display| {
        out.transport_errors += 1;
        out.first_error.get_or_insert_with(|| e.to_string());
    };
    loop {
        let seq = shared.next.fetch_add(1, Ordering::Relaxed);
        if shared.limit.is_some_and(|limit| seq >= limit) {
            break;
        }
        // Open loop: wait until the event is due. Closed loop: send now.
        let due = match shared.rate {
            Some(rate) => {
                let due = start + Duration::from_secs_f64(seq as f64 / rate);
                if shared.duration.is_some_and(|d| due - start >= d) {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                Some(due)
            }
            None => {
                if shared.duration.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                None
            }
        };
        let (body, envelope_len) = shared.bodies.get(&shared.templates, &shared.ids, seq)?;

        if sender.as_ref().is_none_or(SendRequest::is_closed) {
            match connect(shared.target.addr).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    out.sent += 1;
                    note_error(&mut out, &e);
                    // A refused connection fails at once; do not spin through the run.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        out.sent += 1;
        out.wire_bytes += body.len() as u64;
        out.envelope_bytes += envelope_len as u64;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = shared.uri.clone();
        *request.headers_mut() = shared.headers.clone();
        let sent_at = due.unwrap_or_else(Instant::now);
        let answer = match s.ready().await {
            Ok(()) => s.send_request(request).await,
            Err(e) => Err(e),
        };
        let status = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the whole answer, or the connection cannot carry the next request.
                match response.into_body().collect().await {
                    Ok(_) => Some(status),
                    Err(e) => {
                        note_error(&mut out, &e);
                        None
                    }
                }
            }
            Err(e) => {
                note_error(&mut out, &e);
                None
            }
        };
        let now = Instant::now();
        out.elapsed = now - start;
        if let Some(observe) = &observer {
            observe(Answer {
                status,
                latency: now - sent_at,
            });
        }
        let keep = observer.is_none();
        match status {
            Some(status) => {
                *out.statuses.entry(status).or_default() += 1;
                if (200..300).contains(&status) {
                    out.last_2xx = Some(now - start);
                    if keep {
                        out.latencies_us.push((now - sent_at).as_micros() as u64);
                        out.acked.push(seq);
                    }
                }
            }
            None => {
                if keep {
                    out.unanswered.push(seq);
                }
                sender = None;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(events: Option<u64>, secs: Option<u64>, rate: Option<f64>) -> LoadConfig {
        LoadConfig {
            connections: 4,
            events,
            duration: secs.map(Duration::from_secs),
            rate,
            gzip: false,
        }
    }

    #[test]
    fn planned_events() {
        assert_eq!(config(Some(100), None, None).planned_events(), Some(100));
        assert_eq!(config(None, Some(10), None).planned_events(), None);
        assert_eq!(
            config(None, Some(10), Some(50.0)).planned_events(),
            Some(500)
        );
        assert_eq!(
            config(Some(100), Some(10), Some(50.0)).planned_events(),
            Some(100)
        );
        assert!(config(None, None, None).validate().is_err());
        assert!(config(Some(1), None, Some(0.0)).validate().is_err());
    }

    #[tokio::test]
    async fn target_from_dsn() {
        let t = Target::from_dsn(
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/7",
            None,
        )
        .await
        .unwrap();
        assert_eq!(t.path, "/api/7/envelope/");
        assert_eq!(t.project_id, 7);
        assert_eq!(t.host, "127.0.0.1:8000");
        assert!(
            t.auth.starts_with(
                "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7"
            )
        );
        let t = Target::from_dsn(
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/sentry/7",
            Some("/api/{id}/envelope-sink/"),
        )
        .await
        .unwrap();
        assert_eq!(t.path, "/api/7/envelope-sink/");
        let t = Target::from_dsn(
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/sentry/7",
            None,
        )
        .await
        .unwrap();
        assert_eq!(t.path, "/sentry/api/7/envelope/");
        assert!(
            Target::from_dsn("https://k@127.0.0.1/1", None)
                .await
                .is_err()
        );
    }
}
