//! What a soak reads from each running node: its resident memory (`VmRSS` of its process) and
//! its pipeline queue depth, the `mesher_queue_events` gauge of its `/metrics`.

use std::net::SocketAddr;

use anyhow::{Context, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::load::Target;
use crate::measure;

/// The gauge of events waiting in a node's pipeline (`mesher-server/src/metrics.rs`).
pub const QUEUE_GAUGE: &str = "mesher_queue_events";

/// One node to sample.
#[derive(Debug, Clone)]
pub struct NodeProbe {
    pid: u32,
    addr: SocketAddr,
    host: String,
}

/// One sample of a node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSample {
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Events waiting in its pipeline.
    pub queue_events: i64,
}

impl NodeProbe {
    /// The node serving `target` (its `/metrics` is on the same address), process `pid`.
    pub fn new(target: &Target, pid: u32) -> NodeProbe {
        NodeProbe {
            pid,
            addr: target.addr,
            host: target.host.clone(),
        }
    }

    /// Reads both figures; fails when the process is gone or `/metrics` does not answer.
    pub async fn sample(&self) -> anyhow::Result<NodeSample> {
        let rss_bytes = measure::rss_bytes(self.pid)
            .with_context(|| format!("the node with process id {} is gone", self.pid))?;
        let text = self
            .metrics()
            .await
            .with_context(|| format!("cannot read http://{}/metrics", self.host))?;
        let queue_events = gauge(&text, QUEUE_GAUGE)
            .with_context(|| format!("no {QUEUE_GAUGE} in http://{}/metrics", self.host))?;
        Ok(NodeSample {
            rss_bytes,
            queue_events,
        })
    }

    async fn metrics(&self) -> anyhow::Result<String> {
        let stream = TcpStream::connect(self.addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = Request::get("/metrics")
            .header(hyper::header::HOST, &self.host)
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        ensure!(
            response.status().is_success(),
            "answered {}",
            response.status()
        );
        let body = response.into_body().collect().await?.to_bytes();
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// The value of an unlabelled gauge in Prometheus text.
fn gauge(text: &str, name: &str) -> Option<i64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_queue_gauge_and_not_its_neighbours() {
        let text = "# HELP mesher_queue_events Events waiting in the pipeline.\n\
                    # TYPE mesher_queue_events gauge\n\
                    mesher_queue_events_total 99\n\
                    mesher_queue_events 17\n\
                    mesher_live_streams 3\n";
        assert_eq!(gauge(text, QUEUE_GAUGE), Some(17));
        assert_eq!(gauge("mesher_live_streams 3\n", QUEUE_GAUGE), None);
    }
}
