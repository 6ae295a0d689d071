//! Live stream subscribers during a run: WebSocket clients of
//! `GET /api/v1/projects/{id}/stream` that open before the load, read while it runs and record
//! what they receive for [`crate::fanout`] to check, plus one that opens and never reads.
//!
//! They run on a thread of their own (a single-threaded runtime), so that reading hundreds of
//! thousands of messages never delays the load's connections, whose latencies are measured, and
//! so that their CPU time can be reported apart from the load's.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use mesher_protocol::Level;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::corpus::{IdSource, Stamp, Template};
use crate::fanout::{self, Filter, LiveReport, Probe, Profile, Received, Stalled};
use crate::load::{self, LoadOutcome, Target};
use crate::measure::{self, Database};

/// How long a subscriber waits for the server's answer while opening.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// After the load, a subscriber stops once it has heard nothing for this long.
const QUIET: Duration = Duration::from_secs(2);
/// The stalled subscriber's receive buffer: small, so that the server's queue, not the
/// kernel, holds what it does not read. The kernel doubles it and enforces its own minimum.
const STALLED_RECV_BUFFER: u32 = 4096;
/// How long the stalled subscriber, once read, waits before nudging the server (see
/// [`read_stalled`]).
const STALLED_NUDGE: Duration = Duration::from_millis(200);
/// The longest pause between the stalled subscriber's pings.
const STALLED_NUDGE_MAX: Duration = Duration::from_secs(5);
/// How long the stalled subscriber, once read, waits for the rest before it gives up: longer
/// than the stall itself (see [`read_stalled`]).
const STALLED_QUIET: Duration = Duration::from_secs(30);
/// The number given to the probe's event (never one of the run's).
const PROBE_SEQ: u64 = u64::MAX;

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Where the stream of the run's project is, and who may open it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    addr: SocketAddr,
    url: String,
    tokens: Vec<String>,
}

impl Endpoint {
    /// The stream of the DSN's project (`target`), opened with `tokens` in turn: a user may
    /// open only so many streams on a node (`stream_max_per_user`).
    pub fn new(target: &Target, tokens: Vec<String>) -> anyhow::Result<Endpoint> {
        ensure!(
            !tokens.is_empty(),
            "subscribers need an API token (--token)"
        );
        // The DSN's path prefix (`/sentry` in `http://key@host/sentry/7`) prefixes the API too.
        let prefix = target
            .path
            .find("/api/")
            .map(|i| &target.path[..i])
            .context("the request path has no /api/: subscribers need the DSN's endpoint")?;
        Ok(Endpoint {
            addr: target.addr,
            url: format!(
                "ws://{}{prefix}/api/v1/projects/{}/stream",
                target.host, target.project_id
            ),
            tokens,
        })
    }

    async fn connect(&self, subscriber: usize, recv_buffer: Option<u32>) -> anyhow::Result<Ws> {
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let tcp = socket.connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let mut request = self.url.as_str().into_client_request()?;
        let token = &self.tokens[subscriber % self.tokens.len()];
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (ws, _) =
            tokio::time::timeout(OPEN_TIMEOUT, tokio_tungstenite::client_async(request, tcp))
                .await
                .context("the upgrade timed out")??;
        Ok(ws)
    }

    /// Opens a stream and sets its filters; returns once the server said they are in force.
    pub(crate) async fn open(
        &self,
        subscriber: usize,
        filter: &Filter,
        recv_buffer: Option<u32>,
        record: &mut Received,
    ) -> anyhow::Result<Ws> {
        let mut ws = self
            .connect(subscriber, recv_buffer)
            .await
            .with_context(|| format!("subscriber {subscriber} cannot open {}", self.url))?;
        wait_for_subscribed(&mut ws, record).await?;
        if !filter.is_everything() {
            let subscribe = serde_json::json!({"type": "subscribe", "filters": filter});
            ws.send(Message::text(subscribe.to_string())).await?;
            wait_for_subscribed(&mut ws, record).await?;
        }
        Ok(ws)
    }
}

/// Reads until a `subscribed` message (counting what came before).
async fn wait_for_subscribed(ws: &mut Ws, record: &mut Received) -> anyhow::Result<()> {
    loop {
        let m = tokio::time::timeout(OPEN_TIMEOUT, ws.next())
            .await
            .context("no `subscribed` within 10 s")?
            .context("the stream closed while opening")??;
        if let Message::Text(text) = m {
            let parsed: Incoming<'_> = serde_json::from_str(text.as_str())?;
            *record.messages.entry(parsed.kind.to_string()).or_default() += 1;
            match parsed.kind {
                "subscribed" => return Ok(()),
                "error" => bail!("the server refused the filters: {}", text.as_str()),
                _ => {}
            }
        }
    }
}

/// The fields of a server message that the readers look at.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    id: Option<&'a str>,
    #[serde(default)]
    issue_id: Option<i64>,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default, borrow)]
    title: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    environment: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    release: Option<Cow<'a, str>>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    committed_at: Option<OffsetDateTime>,
    #[serde(default)]
    missed: Option<u64>,
}

/// What every reader compares events with.
pub struct Expectations {
    /// The run's id prefix ([`IdSource::prefix`]).
    pub prefix: u64,
    /// The templates' profiles.
    pub profiles: Arc<Vec<Profile>>,
    /// The probed issue, if any.
    pub probe: Option<Probe>,
}

impl Expectations {
    /// Records one message.
    fn note(&self, r: &mut Received, text: &str) {
        let m: Incoming<'_> = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                r.mismatched += 1;
                r.problem(|| format!("unreadable message ({e}): {text}"));
                return;
            }
        };
        *r.messages.entry(m.kind.to_string()).or_default() += 1;
        match m.kind {
            "event" => self.event(r, &m, text),
            "lagged" => r.lagged += m.missed.unwrap_or(0),
            _ => {}
        }
    }

    fn event(&self, r: &mut Received, m: &Incoming<'_>, text: &str) {
        let now = OffsetDateTime::now_utc();
        let id = m.id.and_then(|id| u128::from_str_radix(id, 16).ok());
        let Some(id) = id.filter(|id| (id >> 64) as u64 == self.prefix) else {
            r.foreign += 1;
            r.problem(|| format!("an event of another run: {text}"));
            return;
        };
        let seq = id as u64;
        r.events.push(seq);
        if let Some(at) = m.committed_at {
            r.latencies_us
                .push((now - at).whole_microseconds().max(0) as u64);
        }
        let p = &self.profiles[(seq % self.profiles.len() as u64) as usize];
        let issue_agrees = self.probe.as_ref().is_none_or(|probe| {
            (p.fingerprint == probe.fingerprint) == (m.issue_id == Some(probe.issue_id))
        });
        let agrees = m.level == Some(p.level)
            && m.title.as_deref() == Some(p.title.as_str())
            && m.environment.as_deref() == p.environment.as_deref()
            && m.release.as_deref() == p.release.as_deref()
            && issue_agrees;
        if !agrees {
            r.mismatched += 1;
            r.problem(|| format!("event {seq} differs from its template {p:?}: {text}"));
        }
        if let (Some(at), Some(prev)) = (m.committed_at, r.last_committed_at)
            && at < prev
        {
            r.backwards += 1;
            r.problem(|| format!("committed_at went back from {prev} to {at}"));
        }
        if m.committed_at.is_some() {
            r.last_committed_at = m.committed_at;
        }
    }
}

/// Learns the issue of the corpus's largest group of templates: opens a stream, sends one event
/// of that group (numbered [`PROBE_SEQ`], so never confused with the run's) and reads its
/// `issue_id`. Issue filters can then be set before the run, and the events they should get
/// are those with the group's fingerprint.
pub async fn probe(
    endpoint: &Endpoint,
    target: &Target,
    templates: &[Template],
    profiles: &[Profile],
    ids: &IdSource,
) -> anyhow::Result<Probe> {
    let mut sizes: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for p in profiles {
        *sizes.entry(&p.fingerprint).or_default() += 1;
    }
    let (index, fingerprint) = profiles
        .iter()
        .enumerate()
        .max_by_key(|(i, p)| (sizes[p.fingerprint.as_str()], std::cmp::Reverse(*i)))
        .map(|(i, p)| (i, p.fingerprint.clone()))
        .context("no templates")?;
    let mut ws = endpoint
        .open(0, &Filter::default(), None, &mut Received::default())
        .await?;
    let id = ids.id_at(PROBE_SEQ);
    let mut envelope = Vec::new();
    templates[index].render_into(&mut envelope, &id, &Stamp::now());
    let status = load::send_one(target, envelope).await?;
    ensure!(
        (200..300).contains(&status),
        "the probe event was answered {status}"
    );
    let deadline = tokio::time::Instant::now() + OPEN_TIMEOUT;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("the probe event did not arrive within 10 s")?
            .context("the probe's stream closed")??;
        if let Message::Text(text) = m {
            let m: Incoming<'_> = serde_json::from_str(text.as_str())?;
            if m.kind == "event" && m.id == Some(id.as_str()) {
                let _ = ws.close(None).await;
                return Ok(Probe {
                    issue_id: m.issue_id.context("an event without issue_id")?,
                    fingerprint,
                });
            }
        }
    }
}

/// The live stream's subscribers of a run, open.
pub struct Live {
    fleet: Fleet,
    filters: Vec<Filter>,
    profiles: Vec<Profile>,
    probe: Option<Probe>,
    prefix: u64,
}

impl Live {
    /// Probes an issue (for issue filters), then opens the subscribers and waits until every
    /// one has its filters in force.
    pub async fn open(
        target: &Target,
        templates: &[Template],
        ids: &IdSource,
        subscribers: usize,
        stalled: bool,
        tokens: Vec<String>,
    ) -> anyhow::Result<Live> {
        let profiles = fanout::profiles(templates)?;
        let endpoint = Endpoint::new(target, tokens)?;
        let probe = match subscribers > 0 {
            true => Some(probe(&endpoint, target, templates, &profiles, ids).await?),
            false => None,
        };
        let filters = fanout::mix(subscribers, &profiles, probe.as_ref());
        eprintln!(
            "mesher-bench: opening {} subscribers{} ...",
            filters.len(),
            if stalled { " and a stalled one" } else { "" }
        );
        let expectations = Expectations {
            prefix: ids.prefix(),
            profiles: Arc::new(profiles.clone()),
            probe: probe.clone(),
        };
        let mut fleet = Fleet::start(endpoint, filters.clone(), stalled, expectations)?;
        fleet.ready().await?;
        Ok(Live {
            fleet,
            filters,
            profiles,
            probe,
            prefix: ids.prefix(),
        })
    }

    /// Ends the subscribers after the load and checks what they received against what the
    /// server acknowledged and, with a database, its commit order.
    pub async fn finish(
        self,
        outcome: &LoadOutcome,
        database: Option<&Database>,
        project_id: i64,
    ) -> anyhow::Result<LiveReport> {
        let mut seen = self.fleet.finish(outcome.accepted()).await?;
        let (rank, basis) = match database {
            Some(db) => (
                Some(fanout::ranks(
                    &db.commit_order(project_id).await?,
                    self.prefix,
                )),
                format!(
                    "expected: acknowledged events whose template matches the filters; \
                     order: the {} database's row order",
                    db.backend()
                ),
            ),
            None => (
                None,
                "expected: acknowledged events whose template matches the filters; \
                 order: committed_at only (give --data-dir or --pg-url)"
                    .to_string(),
            ),
        };
        let truth = fanout::Truth {
            acked: &outcome.acked,
            unanswered: &outcome.unanswered,
            profiles: &self.profiles,
            probe: self.probe.as_ref(),
            rank: rank.as_ref(),
        };
        let checks = fanout::verify(&self.filters, &seen.received, &truth);
        Ok(LiveReport::new(
            checks,
            &mut seen.received,
            basis,
            seen.cpu_secs,
            seen.open_secs,
            seen.stalled,
        ))
    }
}

/// What the subscribers' thread hands back.
pub struct FleetOutcome {
    /// Each fast subscriber's record, in the order of the filters.
    pub received: Vec<Received>,
    /// The stalled subscriber, read after the others.
    pub stalled: Option<Stalled>,
    /// The thread's CPU from the end of opening until the load ended.
    pub cpu_secs: f64,
    /// Seconds it took to open every subscriber.
    pub open_secs: f64,
}

/// The subscribers of a run, on their own thread.
pub struct Fleet {
    /// `None` while the load runs; then how many events the server acknowledged.
    done: watch::Sender<Option<u64>>,
    ready: Option<oneshot::Receiver<anyhow::Result<()>>>,
    thread: std::thread::JoinHandle<anyhow::Result<FleetOutcome>>,
}

impl Fleet {
    /// Starts opening one subscriber per filter, and the stalled one if asked.
    pub fn start(
        endpoint: Endpoint,
        filters: Vec<Filter>,
        stalled: bool,
        expectations: Expectations,
    ) -> anyhow::Result<Fleet> {
        let (done, done_rx) = watch::channel(None);
        let (ready_tx, ready) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("subscribers".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(fleet(
                    endpoint,
                    filters,
                    stalled,
                    Arc::new(expectations),
                    ready_tx,
                    done_rx,
                ))
            })?;
        Ok(Fleet {
            done,
            ready: Some(ready),
            thread,
        })
    }

    /// Waits until every subscriber is open with its filters in force.
    pub async fn ready(&mut self) -> anyhow::Result<()> {
        match self.ready.take() {
            Some(rx) => match rx.await {
                Ok(result) => result,
                // The thread ended without a word: its own error says why.
                Err(_) => Err(anyhow::anyhow!(
                    "the subscribers' thread ended while opening"
                )),
            },
            None => Ok(()),
        }
    }

    /// Tells the subscribers the load is over, with `acknowledged` events; they read until
    /// quiet, then the stalled one is read. Returns what they saw.
    pub async fn finish(self, acknowledged: u64) -> anyhow::Result<FleetOutcome> {
        let _ = self.done.send(Some(acknowledged));
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the subscribers' thread panicked"))?
    }
}

async fn fleet(
    endpoint: Endpoint,
    filters: Vec<Filter>,
    stalled: bool,
    expectations: Arc<Expectations>,
    ready: oneshot::Sender<anyhow::Result<()>>,
    mut done: watch::Receiver<Option<u64>>,
) -> anyhow::Result<FleetOutcome> {
    let started = Instant::now();
    let endpoint = Arc::new(endpoint);
    let opening: Vec<_> = filters
        .into_iter()
        .enumerate()
        .map(|(i, filter)| {
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                let mut record = Received::default();
                let ws = endpoint.open(i, &filter, None, &mut record).await?;
                anyhow::Ok((ws, record))
            })
        })
        .collect();
    let opened = async {
        let mut open = Vec::with_capacity(opening.len());
        for task in opening {
            open.push(task.await??);
        }
        let stalled = match stalled {
            true => Some(
                endpoint
                    .open(
                        open.len(),
                        &Filter::default(),
                        Some(STALLED_RECV_BUFFER),
                        &mut Received::default(),
                    )
                    .await?,
            ),
            false => None,
        };
        anyhow::Ok((open, stalled))
    }
    .await;
    let (open, stalled_ws) = match opened {
        Ok(o) => o,
        Err(e) => {
            let _ = ready.send(Err(anyhow::anyhow!("{e:#}")));
            return Err(e);
        }
    };
    let open_secs = started.elapsed().as_secs_f64();
    let readers: Vec<_> = open
        .into_iter()
        .map(|(ws, record)| tokio::spawn(read(ws, record, expectations.clone(), done.clone())))
        .collect();
    let cpu_before = measure::thread_cpu_seconds()?;
    let _ = ready.send(Ok(()));
    // An error means the run's side is gone: then it is over too.
    let acknowledged = done.wait_for(Option::is_some).await.ok().and_then(|d| *d);
    let cpu_secs = measure::thread_cpu_seconds()? - cpu_before;
    let mut received = Vec::with_capacity(readers.len());
    for r in readers {
        received.push(r.await?);
    }
    let stalled = match stalled_ws {
        Some(ws) => Some(read_stalled(ws, acknowledged.unwrap_or(u64::MAX)).await),
        None => None,
    };
    Ok(FleetOutcome {
        received,
        stalled,
        cpu_secs,
        open_secs,
    })
}

/// Reads a fast subscriber until the load is over and the stream has been quiet for
/// [`QUIET`].
async fn read(
    mut ws: Ws,
    mut r: Received,
    expectations: Arc<Expectations>,
    mut done: watch::Receiver<Option<u64>>,
) -> Received {
    loop {
        let next = if done.borrow().is_some() {
            match tokio::time::timeout(QUIET, ws.next()).await {
                Ok(m) => m,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                m = ws.next() => m,
                _ = done.changed() => continue,
            }
        };
        match next {
            Some(Ok(Message::Text(text))) => expectations.note(&mut r, text.as_str()),
            Some(Ok(Message::Close(frame))) => {
                r.problem(|| format!("the server closed the stream: {frame:?}"));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                r.problem(|| format!("the stream failed: {e}"));
                break;
            }
            None => {
                r.problem(|| "the stream ended".into());
                break;
            }
        }
    }
    let _ = ws.close(None).await;
    r
}

/// Reads the stalled subscriber until its `lagged` message, or all `acknowledged` events (or
/// its end, or quiet).
///
/// Its receive window is smaller than loopback's segment size, and reading it empty does not
/// always make the kernel announce the window again: the server's kernel then waits on its
/// persist timer, which the long stall has backed off to seconds. A ping, whose segment
/// carries the open window, can get the server sending at once, so the reader sends one when
/// nothing arrives for [`STALLED_NUDGE`]. But an acknowledgement that opens less than the
/// server's next segment re-arms that timer from now: pings at a steady pace kept it from
/// ever firing (a CI run heard nothing more after 14 messages). So the pause between pings
/// doubles each time (up to [`STALLED_NUDGE_MAX`]), and the reader waits [`STALLED_QUIET`]
/// without a message, longer than the stall, before it gives up; it stops as soon as every
/// event is in.
async fn read_stalled(mut ws: Ws, acknowledged: u64) -> Stalled {
    let mut s = Stalled::default();
    let mut last_heard = Instant::now();
    let mut nudge = STALLED_NUDGE;
    loop {
        // Pongs and the server's pings do not count as heard: only messages do.
        let left = STALLED_QUIET.saturating_sub(last_heard.elapsed());
        if s.events >= acknowledged || left.is_zero() {
            break;
        }
        let next = match tokio::time::timeout(nudge.min(left), ws.next()).await {
            Err(_) => {
                if let Err(e) = ws.send(Message::Ping(Vec::new().into())).await {
                    s.closed = Some(e.to_string());
                    break;
                }
                nudge = (nudge * 2).min(STALLED_NUDGE_MAX);
                continue;
            }
            Ok(next) => next,
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                last_heard = Instant::now();
                nudge = STALLED_NUDGE;
                match serde_json::from_str::<Incoming<'_>>(text.as_str()) {
                    Ok(m) if m.kind == "lagged" => {
                        s.lagged_missed = m.missed;
                        break;
                    }
                    Ok(m) if m.kind == "event" => {
                        s.events += 1;
                        s.messages_before += 1;
                    }
                    _ => s.messages_before += 1,
                }
            }
            Some(Ok(Message::Close(frame))) => {
                s.closed = Some(format!("{frame:?}"));
                break;
            }
            // Pongs to the nudges are not news.
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                s.closed = Some(e.to_string());
                break;
            }
            None => {
                s.closed = Some("ended".into());
                break;
            }
        }
    }
    let _ = ws.close(None).await;
    s
}
