//! The soak's alert webhook receiver: a plain HTTP/1.1 server on a loopback port that answers
//! every request 200 and counts the POSTs, so that the alert rules' deliveries succeed (a
//! failing receiver would fill the outbox with retries, which is another soak) and can be
//! reported per minute.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running receiver; stops when dropped.
pub struct WebhookSink {
    received: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl WebhookSink {
    /// Listens on `127.0.0.1:port` (the port the rules' URLs name).
    pub async fn start(port: u16) -> anyhow::Result<WebhookSink> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port} for webhooks"))?;
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        let post = request.method() == Method::POST;
                        // The whole body, so that the sender sees its request taken.
                        let _ = request.into_body().collect().await;
                        if post {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(WebhookSink { received, task })
    }

    /// Deliveries received since the last call.
    pub fn take(&self) -> u64 {
        self.received.swap(0, Ordering::Relaxed)
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_posts_and_answers_200() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let sink = WebhookSink::start(port).await.unwrap();
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        for _ in 0..2 {
            let request = Request::post("/hook")
                .header("host", "127.0.0.1")
                .body(Full::new(Bytes::from_static(b"{\"alert\": 1}")))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap();
        }
        assert_eq!(sink.take(), 2);
        assert_eq!(sink.take(), 0);
    }
}
