//! Events for list and query tests: a builder with the fields lists filter on, and a project
//! to put them in.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::sync::Arc;

use mesher_protocol::{EventId, Level};
use mesher_store::*;
use time::OffsetDateTime;

pub async fn project(store: &Arc<dyn Store>, slug: &str) -> (i64, i64) {
    let org = match store.org_by_slug("o").await.unwrap() {
        Some(o) => o,
        None => store.create_org("O", "o").await.unwrap(),
    };
    let p = store
        .create_project(&NewProject {
            org_id: org.id,
            name: slug,
            slug,
            platform: None,
        })
        .await
        .unwrap();
    (org.id, p.id)
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub struct Ev {
    pub project: i64,
    pub fingerprint: &'static str,
    pub at: OffsetDateTime,
    pub level: &'static str,
    pub text: &'static str,
    pub tags: Vec<(&'static str, &'static str)>,
    pub environment: Option<&'static str>,
    pub release: Option<&'static str>,
}

impl Ev {
    pub fn new(project: i64, fingerprint: &'static str, at: OffsetDateTime) -> Ev {
        Ev {
            project,
            fingerprint,
            at,
            level: "error",
            text: "something failed",
            tags: vec![],
            environment: None,
            release: None,
        }
    }

    pub fn build(self) -> NewEvent {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&n.to_be_bytes());
        id[9] = 0x77;
        let bytes = br#"{}"#.to_vec();
        let mut tags: Vec<(String, String)> = self
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tags.push(("level".into(), self.level.into()));
        if let Some(e) = self.environment {
            tags.push(("environment".into(), e.into()));
        }
        if let Some(r) = self.release {
            tags.push(("release".into(), r.into()));
        }
        NewEvent {
            project_id: self.project,
            event_id: EventId::from_bytes(id),
            fingerprint: self.fingerprint.into(),
            timestamp: self.at,
            received_at: self.at,
            level: Level::parse(self.level).expect("a level name"),
            title: format!("{}: {}", self.fingerprint, self.text),
            culprit: Some(format!("app.{} in handle", self.fingerprint)),
            environment: self.environment.map(Into::into),
            release: self.release.map(Into::into),
            search_text: self.text.into(),
            tags,
            user_key: None,
            grouping: "{}".into(),
            payload_size: bytes.len() as u32,
            payload: compress_payload(&bytes),
        }
    }
}

pub async fn write(store: &Arc<dyn Store>, events: Vec<Ev>) -> Vec<WriteOutcome> {
    store
        .write_events(Arc::new(events.into_iter().map(Ev::build).collect()))
        .await
        .unwrap()
}
