//! Issue semantics as Sentry users know them, on both backends (issue 12): events inside an
//! issue follow their timestamps (row 6), an issue list's period and event filters apply to the
//! issue's events and its counts are counts in the period (rows 7 and 12), and discarding
//! deletes the issue's events and leaves a tombstone (row 10).

mod common;
#[path = "support/events.rs"]
mod support;

use std::sync::Arc;

use mesher_protocol::EventId;
use mesher_store::*;
use support::{Ev, project, write};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

conformance!(
    events_in_an_issue_follow_their_timestamps,
    issue_lists_match_and_count_events_in_the_period,
    the_level_filter_matches_any_event_of_the_issue,
    tag_filters_match_and_count_events_that_have_every_tag,
    discarding_deletes_the_events_and_leaves_a_tombstone,
);

const T: OffsetDateTime = datetime!(2026-11-20 12:30:00 UTC);

fn stored(out: &[WriteOutcome]) -> i64 {
    match out[0] {
        WriteOutcome::Stored { issue_id, .. } => issue_id,
        ref other => panic!("not stored: {other:?}"),
    }
}

fn list(project_id: i64) -> IssueQuery {
    IssueQuery {
        project_id,
        limit: 50,
        ..IssueQuery::default()
    }
}

/// Row 6: "latest", older/newer and the event list agree with the events' timestamps, not
/// with the order the events arrived in.
async fn events_in_an_issue_follow_their_timestamps(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    // Arrival order: noon+2h, then a straggler from 10:30, then 11:30.
    let mut ids = Vec::new();
    let mut issue = 0;
    for at in [
        T + Duration::hours(2),
        T - Duration::hours(2),
        T - Duration::hours(1),
    ] {
        let e = Ev::new(p, "f", at).build();
        ids.push(e.event_id);
        issue = stored(&store.write_events(Arc::new(vec![e])).await.unwrap());
    }
    let id = |i: usize| ids[i];
    let newest_first = vec![id(0), id(2), id(1)];

    let all = store
        .query_events(&EventQuery {
            project_id: p,
            issue_id: Some(issue),
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    let order: Vec<EventId> = all.items.iter().map(|e| e.event_id).collect();
    assert_eq!(order, newest_first, "the issue's events, newest first");

    // Page by page, the cursor keeps the same order.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .query_events(&EventQuery {
                project_id: p,
                issue_id: Some(issue),
                limit: 1,
                cursor,
                ..EventQuery::default()
            })
            .await
            .unwrap();
        paged.extend(page.items.iter().map(|e| e.event_id));
        match page.next_cursor {
            Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(paged, newest_first);

    // The project's list agrees.
    let project_wide = store
        .query_events(&EventQuery {
            project_id: p,
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    let order: Vec<EventId> = project_wide.items.iter().map(|e| e.event_id).collect();
    assert_eq!(order, newest_first);

    // Older and newer step by time.
    assert_eq!(
        store.adjacent_events(issue, ids[2]).await.unwrap(),
        (Some(id(1)), Some(id(0)))
    );
    assert_eq!(
        store.adjacent_events(issue, ids[1]).await.unwrap(),
        (None, Some(id(2)))
    );
    assert_eq!(
        store.adjacent_events(issue, ids[0]).await.unwrap(),
        (Some(id(2)), None)
    );
}

/// Row 7: the environment and the period apply together to the issue's events, and the count
/// (and the sort by count) is the number of events in the period.
async fn issue_lists_match_and_count_events_in_the_period(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let m = |minutes: i64| T + Duration::minutes(minutes);
    // "mixed": its only production event is 3 h old; a staging event 10 minutes ago.
    let mixed = stored(
        &write(
            &store,
            vec![Ev {
                environment: Some("production"),
                ..Ev::new(p, "mixed", m(-180))
            }],
        )
        .await,
    );
    write(
        &store,
        vec![Ev {
            environment: Some("staging"),
            ..Ev::new(p, "mixed", m(-10))
        }],
    )
    .await;
    let production_last_hour = IssueQuery {
        environment: Some("production".into()),
        since: Some(m(-60)),
        until: Some(T),
        ..list(p)
    };
    let page = store.query_issues(&production_last_hour).await.unwrap();
    assert!(
        page.items.is_empty(),
        "no production event in the last hour: {:?}",
        page.items
    );
    // A period that ends now (no `until`) decides through the tags' last seen.
    let open_ended = IssueQuery {
        until: None,
        ..production_last_hour.clone()
    };
    assert!(
        store
            .query_issues(&open_ended)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    for until in [Some(T), None] {
        let production_4h = IssueQuery {
            since: Some(m(-240)),
            until,
            ..production_last_hour.clone()
        };
        let page = store.query_issues(&production_4h).await.unwrap();
        assert_eq!(page.items.len(), 1, "until {until:?}");
        assert_eq!(page.items[0].id, mixed);
        assert_eq!(page.items[0].period_count, Some(1));
        assert_eq!(page.items[0].event_count, 2);
    }

    // Without a period: the production events ever.
    let ever = IssueQuery {
        environment: Some("production".into()),
        ..list(p)
    };
    let page = store.query_issues(&ever).await.unwrap();
    let got: Vec<(i64, Option<i64>)> = page.items.iter().map(|i| (i.id, i.period_count)).collect();
    assert_eq!(got, vec![(mixed, Some(1))]);

    // "old": 5 events a day ago and 2 in the last hour; "busy": 3 in the last hour.
    let old: Vec<Ev> = (0..5)
        .map(|i| Ev::new(p, "old", m(-24 * 60 - i)))
        .chain((0..2).map(|i| Ev::new(p, "old", m(-20 - i))))
        .collect();
    let old = stored(&write(&store, old).await);
    let busy = stored(
        &write(
            &store,
            (0..3).map(|i| Ev::new(p, "busy", m(-30 - i))).collect(),
        )
        .await,
    );
    let last_hour = IssueQuery {
        since: Some(m(-60)),
        until: Some(T),
        sort: IssueSort::Count,
        ..list(p)
    };
    let page = store.query_issues(&last_hour).await.unwrap();
    let got: Vec<(i64, Option<i64>, i64)> = page
        .items
        .iter()
        .map(|i| (i.id, i.period_count, i.event_count))
        .collect();
    assert_eq!(
        got,
        vec![(busy, Some(3), 3), (old, Some(2), 7), (mixed, Some(1), 2)],
        "sorted by events in the period, not ever"
    );
    // The sort by period count pages with its cursor.
    let first = store
        .query_issues(&IssueQuery {
            limit: 1,
            ..last_hour.clone()
        })
        .await
        .unwrap();
    let second = store
        .query_issues(&IssueQuery {
            limit: 1,
            cursor: Some(Cursor::decode(first.next_cursor.as_deref().unwrap()).unwrap()),
            ..last_hour.clone()
        })
        .await
        .unwrap();
    assert_eq!(second.items[0].id, old);

    // Whole hours and partial ones: [07:30, 12:30) holds 07:45, 09:10 and 12:20, not 07:10.
    let spread = stored(
        &write(
            &store,
            [-320, -285, -200, -10]
                .into_iter()
                .map(|minutes| Ev::new(p, "spread", m(minutes)))
                .collect(),
        )
        .await,
    );
    let five_hours = IssueQuery {
        since: Some(m(-300)),
        until: Some(T),
        query: Some("spread".into()),
        ..list(p)
    };
    let page = store.query_issues(&five_hours).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        (page.items[0].id, page.items[0].period_count),
        (spread, Some(3))
    );

    // A period that ended before the issue was last seen still finds its earlier events.
    let earlier = IssueQuery {
        since: Some(m(-330)),
        until: Some(m(-250)),
        ..list(p)
    };
    let page = store.query_issues(&earlier).await.unwrap();
    let got: Vec<(i64, Option<i64>)> = page.items.iter().map(|i| (i.id, i.period_count)).collect();
    assert_eq!(got, vec![(spread, Some(2))]);
}

/// Row 12: `level=debug` finds an issue that had debug events, whatever its latest level.
async fn the_level_filter_matches_any_event_of_the_issue(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let issue = stored(
        &write(
            &store,
            vec![
                Ev {
                    level: "debug",
                    ..Ev::new(p, "mixed", T - Duration::minutes(10))
                },
                Ev {
                    level: "fatal",
                    ..Ev::new(p, "mixed", T)
                },
            ],
        )
        .await,
    );
    let by_level = |level: &str| IssueQuery {
        level: Some(level.into()),
        since: Some(T - Duration::hours(1)),
        until: Some(T + Duration::minutes(1)),
        ..list(p)
    };
    assert_eq!(store.issue(issue).await.unwrap().unwrap().level, "fatal");
    for (level, found) in [("debug", true), ("fatal", true), ("info", false)] {
        let page = store.query_issues(&by_level(level)).await.unwrap();
        let ids: Vec<(i64, Option<i64>)> =
            page.items.iter().map(|i| (i.id, i.period_count)).collect();
        let expected = if found {
            vec![(issue, Some(1))]
        } else {
            vec![]
        };
        assert_eq!(ids, expected, "level={level}");
    }
}

/// Issue 19: `key:value` tags filter the issue list as the other event fields do. An issue is
/// listed when one of its events has every tag asked for (and the level and environment, in
/// the period), and its count is the number of such events, on both backends alike.
async fn tag_filters_match_and_count_events_that_have_every_tag(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let ev = |fingerprint, minutes, tags: Vec<(&'static str, &'static str)>| Ev {
        tags,
        environment: Some("production"),
        ..Ev::new(p, fingerprint, T - Duration::minutes(minutes))
    };
    let firefox = ("browser.name", "Firefox \"ESR\"");
    let linux = ("os", "Linux");
    let mixed = stored(
        &write(
            &store,
            vec![
                ev("mixed", 50, vec![firefox]),
                ev("mixed", 40, vec![linux]),
                ev("mixed", 30, vec![firefox, linux]),
                ev("mixed", 20, vec![firefox, linux]),
                // Outside the period below.
                ev("mixed", 200, vec![firefox, linux]),
            ],
        )
        .await,
    );
    let apart = stored(
        &write(
            &store,
            vec![ev("apart", 10, vec![firefox]), ev("apart", 5, vec![linux])],
        )
        .await,
    );
    let query = |tags: &[(&str, &str)], since: Option<OffsetDateTime>| IssueQuery {
        tags: tags
            .iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        since,
        until: since.map(|_| T + Duration::minutes(1)),
        sort: IssueSort::Count,
        ..list(p)
    };
    let hour = Some(T - Duration::hours(1));
    for (tags, since, expected) in [
        (vec![firefox], hour, vec![(mixed, 3), (apart, 1)]),
        (vec![firefox, linux], hour, vec![(mixed, 2)]),
        (vec![firefox, linux], None, vec![(mixed, 3)]),
        (vec![linux], None, vec![(mixed, 4), (apart, 1)]),
        (vec![("os", "linux")], None, vec![]),
        (vec![("browser", "Firefox")], None, vec![]),
    ] {
        let page = store.query_issues(&query(&tags, since)).await.unwrap();
        let got: Vec<(i64, i64)> = page
            .items
            .iter()
            .map(|i| (i.id, i.period_count.unwrap_or(i.event_count)))
            .collect();
        assert_eq!(got, expected, "{tags:?} since {since:?}");
        let counted = store.count_issues(&query(&tags, since)).await.unwrap();
        assert_eq!(counted, expected.len() as u64, "{tags:?}");
    }
    // With another event field: one event must have the tag and the level together.
    let warning = IssueQuery {
        level: Some("warning".into()),
        ..query(&[firefox], None)
    };
    assert!(store.query_issues(&warning).await.unwrap().items.is_empty());
}

/// Row 10: discarding deletes the issue's events (not listed, not found by search) and keeps
/// a tombstone that drops the fingerprint's new events; deleting the tombstone lifts it, and
/// the next event opens a new issue.
async fn discarding_deletes_the_events_and_leaves_a_tombstone(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let issue = stored(
        &write(
            &store,
            (0..3)
                .map(|i| Ev::new(p, "gone", T + Duration::seconds(i)))
                .collect(),
        )
        .await,
    );
    let kept = stored(&write(&store, vec![Ev::new(p, "kept", T)]).await);
    assert_eq!(store.project_counts(p).await.unwrap(), (4, 2));

    let discarded = store
        .set_issue_status(issue, StatusChange::Discard, None, T)
        .await
        .unwrap();
    assert_eq!(discarded.status, IssueStatus::Discarded);
    let events = |issue_id: Option<i64>, query: Option<&str>| EventQuery {
        project_id: p,
        issue_id,
        query: query.map(Into::into),
        limit: 50,
        ..EventQuery::default()
    };
    assert!(
        store
            .query_events(&events(Some(issue), None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let found = store
        .query_events(&events(None, Some("something")))
        .await
        .unwrap();
    assert!(
        found.items.iter().all(|e| e.issue_id == kept),
        "search finds only the kept issue's event"
    );
    assert_eq!(found.items.len(), 1);
    assert_eq!(store.project_counts(p).await.unwrap(), (1, 1));
    let every_status = store.query_issues(&list(p)).await.unwrap();
    assert_eq!(
        every_status.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![kept]
    );
    let tombstones = store
        .query_issues(&IssueQuery {
            status: Some(IssueStatus::Discarded),
            ..list(p)
        })
        .await
        .unwrap();
    assert_eq!(
        tombstones.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![issue]
    );

    // The tombstone drops new events of the fingerprint.
    let out = write(&store, vec![Ev::new(p, "gone", T + Duration::minutes(5))]).await;
    assert!(matches!(out[0], WriteOutcome::Discarded { issue_id } if issue_id == issue));
    assert_eq!(store.project_counts(p).await.unwrap(), (1, 1));

    // Un-discarding in place would revive an issue whose events are gone: refused.
    let err = store
        .set_issue_status(issue, StatusChange::Unresolve, None, T)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    // Lifting the tombstone: the next event opens a new issue.
    store.delete_issue(issue).await.unwrap();
    assert_eq!(store.project_counts(p).await.unwrap(), (1, 1));
    let reborn = stored(&write(&store, vec![Ev::new(p, "gone", T + Duration::minutes(6))]).await);
    assert_ne!(reborn, issue);
    let reborn = store.issue(reborn).await.unwrap().unwrap();
    assert_eq!(
        (reborn.event_count, reborn.status),
        (1, IssueStatus::Unresolved)
    );
    assert_eq!(store.project_counts(p).await.unwrap(), (2, 2));
}
