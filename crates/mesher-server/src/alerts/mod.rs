//! Alerts (issue 16, ALERT-01 … ALERT-06): rules that watch a project's issues and events, and
//! the notifications they send when they fire.
//!
//! [`rule`] reads rules as people write them; the [`engine`] fires on the issue changes the
//! writer records; [`thresholds`] is the cluster job that counts; [`notify`] turns one fired
//! alert into one delivery attempt (a webhook or an e-mail), and [`outbox`] retries deliveries
//! from the durable outbox until they succeed or an hour has passed.

pub mod engine;
pub mod notify;
pub mod outbox;
pub mod rule;
pub mod thresholds;

use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::cluster::BusMessage;

/// Waits until the bus brings a message `news` accepts (or says messages were lost), or `poll`
/// has passed without one: the engine and the outbox work on news and by the clock.
pub(crate) async fn news_or_timeout(
    bus: &mut broadcast::Receiver<BusMessage>,
    poll: Duration,
    news: impl Fn(&BusMessage) -> bool,
) {
    let deadline = tokio::time::sleep(poll);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            m = bus.recv() => match m {
                Ok(m) if news(&m) => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return,
                // No bus any more: only the clock.
                Err(RecvError::Closed) => return (&mut deadline).await,
            },
            () = &mut deadline => return,
        }
    }
}
