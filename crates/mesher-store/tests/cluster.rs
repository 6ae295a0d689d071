//! Issue 14 (CLUSTER-01, CLUSTER-02): the registry of nodes, leases with epochs, and fenced job
//! runs, on both backends, with controlled time.

mod common;

use std::sync::Arc;

use mesher_store::*;
use time::OffsetDateTime;
use time::macros::datetime;

conformance!(
    nodes_register_beat_and_leave,
    a_lease_has_one_holder_and_a_new_epoch_per_holder,
    a_job_slot_runs_once_and_only_under_a_live_lease,
    handed_off_events_are_claimed_by_one_peer_at_a_time,
);

const T0: OffsetDateTime = datetime!(2026-12-04 12:00:00 UTC);

fn secs(n: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(n)
}

fn node(name: &str, at: OffsetDateTime) -> NodeRecord {
    NodeRecord {
        name: name.into(),
        address: format!("http://{name}"),
        version: "0.1.0".into(),
        started_at: at,
        last_heartbeat: at,
        interval_ms: 5000,
        events_per_second: 0.0,
        queue_depth: 0,
        handed_off: 0,
        taken_over: 0,
        services: "[]".into(),
    }
}

async fn nodes_register_beat_and_leave(store: Arc<dyn Store>) {
    store.register_node(&node("b:2", T0)).await.unwrap();
    store.register_node(&node("a:1", T0)).await.unwrap();
    let beat = NodeBeat {
        name: "a:1",
        at: secs(5),
        events_per_second: 12.5,
        queue_depth: 7,
        handed_off: 3,
        taken_over: 4,
        services: r#"[{"name":"writer","state":"running"}]"#,
    };
    assert!(store.beat_node(&beat).await.unwrap());
    let nodes = store.nodes().await.unwrap();
    assert_eq!(
        nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["a:1", "b:2"]
    );
    let a = &nodes[0];
    assert_eq!(a.last_heartbeat, secs(5));
    assert_eq!(a.started_at, T0);
    assert_eq!(
        (
            a.events_per_second,
            a.queue_depth,
            a.handed_off,
            a.taken_over
        ),
        (12.5, 7, 3, 4)
    );
    assert!(a.services.contains("writer"));

    // A restart under the same name replaces the earlier run's row and its counters.
    store.register_node(&node("a:1", secs(60))).await.unwrap();
    let a = &store.nodes().await.unwrap()[0];
    assert_eq!((a.started_at, a.handed_off), (secs(60), 0));

    store.deregister_node("a:1").await.unwrap();
    assert_eq!(store.nodes().await.unwrap().len(), 1);
    // A removed node learns it from its next beat, and registers again.
    assert!(!store.beat_node(&beat).await.unwrap());
}

async fn a_lease_has_one_holder_and_a_new_epoch_per_holder(store: Arc<dyn Store>) {
    let ttl = time::Duration::seconds(10);
    assert_eq!(
        store.try_lease("jobs", "a", T0, ttl).await.unwrap(),
        Some(1)
    );
    // Held and unexpired: nobody else gets it; the holder renews under the same epoch.
    assert_eq!(
        store.try_lease("jobs", "b", secs(5), ttl).await.unwrap(),
        None
    );
    assert_eq!(
        store.try_lease("jobs", "a", secs(8), ttl).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        store.try_lease("jobs", "b", secs(17), ttl).await.unwrap(),
        None
    );
    // Lapsed (a's last renewal ran to 18 s): b takes it under a new epoch.
    assert_eq!(
        store.try_lease("jobs", "b", secs(18), ttl).await.unwrap(),
        Some(2)
    );
    let lease = store.lease("jobs").await.unwrap().unwrap();
    assert_eq!((lease.holder.as_str(), lease.epoch), ("b", 2));
    assert_eq!(lease.expires_at, secs(28));
    // a comes back: refused while b holds it.
    assert_eq!(
        store.try_lease("jobs", "a", secs(20), ttl).await.unwrap(),
        None
    );
    // A graceful stop lets it go at once; a takes it without waiting for the expiry.
    store.release_lease("jobs", "a", secs(21)).await.unwrap();
    assert_eq!(
        store.lease("jobs").await.unwrap().unwrap().expires_at,
        secs(28)
    );
    store.release_lease("jobs", "b", secs(21)).await.unwrap();
    assert_eq!(
        store.try_lease("jobs", "a", secs(21), ttl).await.unwrap(),
        Some(3)
    );
    // Other leases are independent.
    assert_eq!(
        store.try_lease("other", "b", secs(21), ttl).await.unwrap(),
        Some(1)
    );
    assert_eq!(store.lease("nothing").await.unwrap(), None);
}

async fn a_job_slot_runs_once_and_only_under_a_live_lease(store: Arc<dyn Store>) {
    let ttl = time::Duration::seconds(10);
    let run = |slot, epoch, node: &str, at| JobRun {
        job: "sweep".into(),
        slot,
        epoch,
        node: node.into(),
        ran_at: at,
    };
    assert_eq!(
        store.try_lease("jobs", "a", T0, ttl).await.unwrap(),
        Some(1)
    );
    assert!(
        store
            .claim_job_run("jobs", &run(100, 1, "a", secs(1)))
            .await
            .unwrap()
    );
    // The same slot again, by anyone: refused.
    assert!(
        !store
            .claim_job_run("jobs", &run(100, 1, "a", secs(2)))
            .await
            .unwrap()
    );
    // A node that does not hold the lease, or under an old epoch, or past the expiry: fenced.
    assert!(
        !store
            .claim_job_run("jobs", &run(101, 1, "b", secs(2)))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_job_run("jobs", &run(101, 0, "a", secs(2)))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_job_run("jobs", &run(101, 1, "a", secs(10)))
            .await
            .unwrap()
    );
    // b takes the lapsed lease; a's stale epoch stays fenced, b's runs.
    assert_eq!(
        store.try_lease("jobs", "b", secs(11), ttl).await.unwrap(),
        Some(2)
    );
    assert!(
        !store
            .claim_job_run("jobs", &run(101, 1, "a", secs(12)))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_job_run("jobs", &run(101, 2, "b", secs(12)))
            .await
            .unwrap()
    );
    let runs = store.job_runs("sweep").await.unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| (r.slot, r.epoch, r.node.as_str()))
            .collect::<Vec<_>>(),
        [(100, 1, "a"), (101, 2, "b")]
    );
    assert_eq!(store.prune_job_runs(secs(5)).await.unwrap(), 1);
    assert_eq!(store.job_runs("sweep").await.unwrap().len(), 1);
    assert!(store.job_runs("other").await.unwrap().is_empty());
}

async fn handed_off_events_are_claimed_by_one_peer_at_a_time(store: Arc<dyn Store>) {
    let events: Vec<(i64, Vec<u8>)> = (0..5)
        .map(|i| (7, format!("{{\"n\":{i}}}").into_bytes()))
        .collect();
    store.push_overflow("a", &events, T0).await.unwrap();
    assert_eq!(store.overflow_depth().await.unwrap(), 5);
    let lease = |s| secs(s) + time::Duration::seconds(30);
    // The origin leaves its own events to its peers while they are fresh.
    let own = store
        .claim_overflow("a", secs(1), lease(1), secs(-5), 10)
        .await
        .unwrap();
    assert!(own.is_empty(), "{own:?}");
    let b = store
        .claim_overflow("b", secs(1), lease(1), secs(-5), 3)
        .await
        .unwrap();
    assert_eq!(
        b.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(),
        events[..3].iter().map(|e| e.1.clone()).collect::<Vec<_>>()
    );
    assert!(b.iter().all(|e| e.origin == "a" && e.project_id == 7));
    // Claimed rows are not claimed again while the claim lasts.
    let c = store
        .claim_overflow("c", secs(2), lease(2), secs(-5), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 2);
    assert!(
        store
            .claim_overflow("c", secs(3), lease(3), secs(-5), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Only the claimant deletes.
    let b_ids: Vec<i64> = b.iter().map(|e| e.id).collect();
    assert_eq!(store.delete_overflow("c", &b_ids).await.unwrap(), 0);
    assert_eq!(store.delete_overflow("b", &b_ids).await.unwrap(), 3);
    // c dies holding two; its claim lapses and another node (here the origin itself, since
    // they are old now) takes them again.
    let again = store
        .claim_overflow("a", secs(40), lease(40), secs(35), 10)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|e| e.id).collect::<Vec<_>>(),
        c.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert_eq!(
        store
            .delete_overflow("a", &c.iter().map(|e| e.id).collect::<Vec<_>>())
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.overflow_depth().await.unwrap(), 0);
}
