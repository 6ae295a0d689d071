//! Conformance of lists, search, statistics, sessions and members on both backends
//! (SEARCH-01 … SEARCH-05, DASH-01 … DASH-06, DETAIL-05, ORG-04).

mod common;
#[path = "support/events.rs"]
mod support;

use std::collections::HashSet;
use std::sync::Arc;

use mesher_protocol::EventId;
use mesher_store::*;
use support::{Ev, project, write};
use time::OffsetDateTime;
use time::macros::datetime;

conformance!(
    issue_lists_filter_sort_and_page,
    event_search_matches_words_and_tags_within_a_project,
    events_have_neighbours_within_their_issue,
    statistics_come_from_rollups,
    top_issues_over_weeks_count_only_the_range,
    sessions_expire_and_end,
    members_keep_an_owner,
    deleting_a_project_deletes_everything_in_it,
);

const T: OffsetDateTime = datetime!(2026-11-20 12:30:00 UTC);

fn ids<T>(page: &Page<T>, f: impl Fn(&T) -> i64) -> Vec<i64> {
    page.items.iter().map(f).collect()
}

async fn issue_lists_filter_sort_and_page(store: Arc<dyn Store>) {
    let (org, p) = project(&store, "p").await;
    let h = |n: i64| T + time::Duration::hours(n);
    // Five issues with different times, counts, levels, environments.
    write(
        &store,
        vec![Ev {
            level: "warning",
            environment: Some("staging"),
            ..Ev::new(p, "alpha", h(0))
        }],
    )
    .await;
    write(
        &store,
        (0..3)
            .map(|_| Ev {
                environment: Some("production"),
                release: Some("1.0"),
                ..Ev::new(p, "beta", h(1))
            })
            .collect(),
    )
    .await;
    write(&store, (0..2).map(|_| Ev::new(p, "gamma", h(2))).collect()).await;
    write(
        &store,
        vec![Ev {
            text: "database timeout",
            ..Ev::new(p, "delta", h(3))
        }],
    )
    .await;
    write(&store, vec![Ev::new(p, "epsilon", h(4))]).await;
    let all = store.list_issues(p).await.unwrap();
    let by_name = |name: &str| all.iter().find(|i| i.fingerprint == name).unwrap().id;

    let q = |f: &dyn Fn(&mut IssueQuery)| {
        let mut q = IssueQuery {
            project_id: p,
            limit: 50,
            ..IssueQuery::default()
        };
        f(&mut q);
        q
    };
    let list = |q: IssueQuery| {
        let store = store.clone();
        async move { store.query_issues(&q).await.unwrap() }
    };
    let everything = list(q(&|_| {})).await;
    assert_eq!(
        ids(&everything, |i| i.id),
        ["epsilon", "delta", "gamma", "beta", "alpha"].map(by_name),
        "last seen first"
    );
    assert_eq!(everything.next_cursor, None);
    // The count covers every page, a cursor and limit aside.
    let small = q(&|q| {
        q.limit = 2;
        q.cursor = Some(Cursor {
            value: i64::MAX,
            id: i64::MAX,
        });
    });
    assert_eq!(store.count_issues(&small).await.unwrap(), 5);
    let warnings = q(&|q| q.level = Some("warning".into()));
    assert_eq!(store.count_issues(&warnings).await.unwrap(), 1);
    let by_count = list(q(&|q| q.sort = IssueSort::Count)).await;
    assert_eq!(by_count.items[0].id, by_name("beta"));
    let by_first = list(q(&|q| q.sort = IssueSort::FirstSeen)).await;
    assert_eq!(by_first.items[4].id, by_name("alpha"));

    assert_eq!(
        ids(&list(q(&|q| q.level = Some("warning".into()))).await, |i| i
            .id),
        [by_name("alpha")]
    );
    assert_eq!(
        ids(
            &list(q(&|q| q.environment = Some("production".into()))).await,
            |i| i.id
        ),
        [by_name("beta")]
    );
    assert_eq!(
        ids(&list(q(&|q| q.release = Some("1.0".into()))).await, |i| i
            .id),
        [by_name("beta")]
    );
    assert_eq!(
        ids(&list(q(&|q| q.query = Some("TIMEOUT".into()))).await, |i| i
            .id),
        [by_name("delta")]
    );
    assert_eq!(
        ids(
            &list(q(&|q| {
                q.since = Some(h(2));
                q.until = Some(h(4));
            }))
            .await,
            |i| i.id
        ),
        ["delta", "gamma"].map(by_name)
    );

    // Status and assignee.
    store
        .set_issue_status(by_name("gamma"), StatusChange::Resolve, None, now())
        .await
        .unwrap();
    let resolved = list(q(&|q| q.status = Some(IssueStatus::Resolved))).await;
    assert_eq!(ids(&resolved, |i| i.id), [by_name("gamma")]);
    let user = store
        .create_user(&NewUser {
            email: "a@example.com",
            name: "A",
            password_hash: "x",
        })
        .await
        .unwrap();
    store.add_member(org, user.id, Role::Member).await.unwrap();
    store
        .assign_issue(by_name("delta"), Some(user.id), None)
        .await
        .unwrap();
    let mine = list(q(&|q| q.assignee = Some(AssigneeFilter::User(user.id)))).await;
    assert_eq!(ids(&mine, |i| i.id), [by_name("delta")]);
    assert_eq!(
        list(q(&|q| q.assignee = Some(AssigneeFilter::Nobody)))
            .await
            .items
            .len(),
        4
    );

    // Keyset pages: every issue exactly once, in order, for every sort.
    for sort in [IssueSort::LastSeen, IssueSort::FirstSeen, IssueSort::Count] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = list(q(&|q| {
                q.sort = sort;
                q.limit = 2;
                q.cursor = cursor;
            }))
            .await;
            seen.extend(ids(&page, |i| i.id));
            match page.next_cursor {
                Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
                None => break,
            }
        }
        let full = list(q(&|q| q.sort = sort)).await;
        assert_eq!(seen, ids(&full, |i| i.id), "{sort:?}");
    }
}

async fn event_search_matches_words_and_tags_within_a_project(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let (_, other) = project(&store, "other").await;
    write(
        &store,
        vec![
            Ev {
                text: "connection refused by payments",
                tags: vec![("browser", "Firefox")],
                ..Ev::new(p, "a", T)
            },
            Ev {
                text: "connection reset",
                tags: vec![("browser", "Chrome")],
                environment: Some("prod"),
                ..Ev::new(p, "a", T)
            },
            Ev {
                text: "disk full",
                tags: vec![("browser", "Firefox")],
                level: "fatal",
                ..Ev::new(p, "b", T)
            },
            Ev {
                text: "connection refused elsewhere",
                ..Ev::new(other, "a", T)
            },
        ],
    )
    .await;
    let search = |f: &dyn Fn(&mut EventQuery)| {
        let mut q = EventQuery {
            project_id: p,
            limit: 50,
            ..EventQuery::default()
        };
        f(&mut q);
        let store = store.clone();
        async move { store.query_events(&q).await.unwrap() }
    };
    let titles = |page: &Page<EventSummary>| {
        page.items
            .iter()
            .map(|e| e.title.clone())
            .collect::<Vec<_>>()
    };

    let page = search(&|q| q.query = Some("connection".into())).await;
    assert_eq!(
        titles(&page),
        ["a: connection reset", "a: connection refused by payments"],
        "newest first, own project only"
    );
    let page = search(&|q| q.query = Some("conn refus".into())).await;
    assert_eq!(
        titles(&page),
        ["a: connection refused by payments"],
        "prefixes, every word"
    );
    let page = search(&|q| q.tags = vec![("browser".into(), "Firefox".into())]).await;
    assert_eq!(
        titles(&page),
        ["b: disk full", "a: connection refused by payments"]
    );
    let page = search(&|q| {
        q.tags = vec![("browser".into(), "Firefox".into())];
        q.query = Some("disk".into());
    })
    .await;
    assert_eq!(titles(&page), ["b: disk full"]);
    assert!(
        search(&|q| q.tags = vec![("browser".into(), "firefox".into())])
            .await
            .items
            .is_empty(),
        "tag values are exact"
    );
    assert_eq!(
        titles(&search(&|q| q.level = Some("fatal".into())).await),
        ["b: disk full"]
    );
    assert_eq!(
        titles(&search(&|q| q.environment = Some("prod".into())).await),
        ["a: connection reset"]
    );
    assert!(
        search(&|q| q.query = Some("\" OR * NEAR(".into()))
            .await
            .items
            .is_empty(),
        "syntax is not interpreted"
    );
    assert!(
        search(&|q| q.since = Some(T + time::Duration::hours(1)))
            .await
            .items
            .is_empty()
    );

    let mut seen = HashSet::new();
    let mut cursor = None;
    loop {
        let page = search(&|q| {
            q.limit = 1;
            q.cursor = cursor;
        })
        .await;
        for e in &page.items {
            assert!(seen.insert(e.event_id), "no event twice");
        }
        match page.next_cursor {
            Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
}

async fn events_have_neighbours_within_their_issue(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let built: Vec<NewEvent> = (0..3).map(|_| Ev::new(p, "n", T).build()).collect();
    let ids: Vec<EventId> = built.iter().map(|e| e.event_id).collect();
    let out = store.write_events(Arc::new(built)).await.unwrap();
    let WriteOutcome::Stored { issue_id, .. } = out[0] else {
        panic!()
    };
    store
        .write_events(Arc::new(vec![Ev::new(p, "other", T).build()]))
        .await
        .unwrap();
    let id = |i: usize| ids[i];
    assert_eq!(
        store.adjacent_events(issue_id, ids[0]).await.unwrap(),
        (None, Some(id(1)))
    );
    assert_eq!(
        store.adjacent_events(issue_id, ids[1]).await.unwrap(),
        (Some(id(0)), Some(id(2)))
    );
    assert_eq!(
        store.adjacent_events(issue_id, ids[2]).await.unwrap(),
        (Some(id(1)), None)
    );
}

async fn statistics_come_from_rollups(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let h = |n: i64| T + time::Duration::hours(n);
    write(
        &store,
        vec![
            Ev {
                environment: Some("prod"),
                ..Ev::new(p, "a", h(0))
            },
            Ev {
                environment: Some("prod"),
                level: "warning",
                ..Ev::new(p, "a", h(0))
            },
            Ev {
                environment: Some("dev"),
                ..Ev::new(p, "b", h(2))
            },
            Ev {
                tags: vec![("browser", "Safari")],
                ..Ev::new(p, "b", h(2))
            },
            Ev::new(p, "b", h(2)),
        ],
    )
    .await;
    let since = h(-1);
    let until = h(3);
    let volume = store.volume(p, since, until, Bucket::Hour).await.unwrap();
    assert_eq!(
        volume.iter().map(|v| v.1).collect::<Vec<_>>(),
        [0, 2, 0, 3, 0],
        "11:00 … 15:00, zeros filled"
    );
    assert_eq!(volume[0].0, datetime!(2026-11-20 11:00 UTC));
    let days = store.volume(p, h(-24), until, Bucket::Day).await.unwrap();
    assert_eq!(days.iter().map(|v| v.1).sum::<i64>(), 5);
    assert_eq!(days.last().unwrap().0, datetime!(2026-11-20 00:00 UTC));

    assert_eq!(
        store.level_counts(p, since, until).await.unwrap(),
        vec![("error".into(), 4), ("warning".into(), 1)]
    );
    let top = store.top_issues(p, since, until, 10).await.unwrap();
    assert_eq!(
        top.iter()
            .map(|t| (t.issue.fingerprint.as_str(), t.count))
            .collect::<Vec<_>>(),
        [("b", 3), ("a", 2)]
    );
    let only_late = store.top_issues(p, h(1), until, 10).await.unwrap();
    assert_eq!(only_late.len(), 1);
    assert_eq!(
        store
            .tag_values(p, "environment", since, until, 10)
            .await
            .unwrap(),
        vec![("prod".into(), 2), ("dev".into(), 1)]
    );
    let b = top[0].issue.id;
    let timeline = store
        .issue_timeline(b, since, until, Bucket::Hour)
        .await
        .unwrap();
    assert_eq!(
        timeline.iter().map(|v| v.1).collect::<Vec<_>>(),
        [0, 0, 0, 3, 0]
    );
    let tags = store.issue_tag_values(b, 5).await.unwrap();
    assert_eq!(tags[0], ("level".into(), vec![("error".into(), 3)]));
    assert!(tags.contains(&("browser".into(), vec![("Safari".into(), 1)])));

    let health = store.health(p, h(3)).await.unwrap();
    assert_eq!(
        health,
        Health {
            unresolved_issues: 2,
            events_24h: 5,
            new_issues_today: 2
        }
    );
    let tomorrow = store
        .health(p, datetime!(2026-11-21 06:00 UTC))
        .await
        .unwrap();
    assert_eq!(
        tomorrow.new_issues_today, 0,
        "today means since midnight UTC"
    );
    assert_eq!(store.project_counts(p).await.unwrap(), (5, 2));
    store.delete_issue(b).await.unwrap();
    assert_eq!(store.project_counts(p).await.unwrap(), (2, 1));
}

/// DASH-03: top issues over a long range are the exact counts within it, even when the issue
/// with the most events overall was quiet in the range, and ties go to the newer issue.
async fn top_issues_over_weeks_count_only_the_range(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let d = |n: i64| T + time::Duration::days(n);
    let mut events = Vec::new();
    // "old": the most events overall, all before the range.
    events.extend((0..6).map(|_| Ev::new(p, "old", d(-20))));
    // "steady": 4 in the range, 1 before it.
    events.push(Ev::new(p, "steady", d(-20)));
    events.extend((0..4).map(|i| Ev::new(p, "steady", d(-6 + i))));
    // "tie-a" then "tie-b" (newer issue): 2 each in the range.
    events.extend((0..2).map(|_| Ev::new(p, "tie-a", d(-3))));
    events.extend((0..2).map(|_| Ev::new(p, "tie-b", d(-2))));
    events.push(Ev::new(p, "one", d(-1)));
    // After the range.
    events.extend((0..3).map(|_| Ev::new(p, "later", d(2))));
    write(&store, events).await;

    let (since, until) = (d(-7), d(1));
    let top = |n| {
        let store = store.clone();
        async move {
            store
                .top_issues(p, since, until, n)
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.issue.fingerprint, t.count))
                .collect::<Vec<_>>()
        }
    };
    let pairs = |v: &[(&str, i64)]| {
        v.iter()
            .map(|(f, n)| (f.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        top(10).await,
        pairs(&[("steady", 4), ("tie-b", 2), ("tie-a", 2), ("one", 1)])
    );
    assert_eq!(top(2).await, pairs(&[("steady", 4), ("tie-b", 2)]));
    // The whole history: totals.
    assert_eq!(
        store.top_issues(p, d(-30), d(3), 2).await.unwrap()[0].count,
        6
    );
}

async fn sessions_expire_and_end(store: Arc<dyn Store>) {
    let user = store
        .create_user(&NewUser {
            email: "s@example.com",
            name: "S",
            password_hash: "x",
        })
        .await
        .unwrap();
    let now = mesher_store::now();
    store
        .create_session(user.id, "h1", "csrf1", now + time::Duration::hours(1))
        .await
        .unwrap();
    store
        .create_session(user.id, "h2", "csrf2", now + time::Duration::hours(1))
        .await
        .unwrap();
    let s = store.session("h1", now).await.unwrap().unwrap();
    assert_eq!((s.user_id, s.csrf_token.as_str()), (user.id, "csrf1"));
    assert!(
        store
            .session("h1", now + time::Duration::hours(2))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    store.delete_session("h1").await.unwrap();
    assert!(store.session("h1", now).await.unwrap().is_none());
    store.delete_user_sessions(user.id).await.unwrap();
    assert!(store.session("h2", now).await.unwrap().is_none());
    assert!(matches!(
        store.create_session(9999, "h3", "c", now).await,
        Err(StoreError::NotFound("user"))
    ));
}

async fn members_keep_an_owner(store: Arc<dyn Store>) {
    let (org, p) = project(&store, "p").await;
    let user = |e: &'static str| NewUser {
        email: e,
        name: "U",
        password_hash: "secret-hash",
    };
    let owner = store.create_user(&user("owner@example.com")).await.unwrap();
    let dev = store.create_user(&user("dev@example.com")).await.unwrap();
    store.add_member(org, owner.id, Role::Owner).await.unwrap();
    store.add_member(org, dev.id, Role::Member).await.unwrap();
    let members = store.list_members(org).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.user.id, m.role))
            .collect::<Vec<_>>(),
        [(owner.id, Role::Owner), (dev.id, Role::Member)]
    );
    assert!(
        members.iter().all(|m| m.user.password_hash.is_empty()),
        "no hashes in member lists"
    );

    assert!(matches!(
        store.set_member_role(org, owner.id, Role::Admin).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.remove_member(org, owner.id).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .set_member_role(org, dev.id, Role::Owner)
            .await
            .unwrap()
            .role,
        Role::Owner
    );
    assert_eq!(
        store
            .set_member_role(org, owner.id, Role::Admin)
            .await
            .unwrap()
            .role,
        Role::Admin
    );
    assert!(matches!(
        store.set_member_role(org, 4242, Role::Admin).await,
        Err(StoreError::NotFound("member"))
    ));

    // Removing a member unassigns their issues in the organization.
    let out = write(&store, vec![Ev::new(p, "x", T)]).await;
    let WriteOutcome::Stored { issue_id, .. } = out[0] else {
        panic!()
    };
    store
        .assign_issue(issue_id, Some(owner.id), None)
        .await
        .unwrap();
    store.remove_member(org, owner.id).await.unwrap();
    assert_eq!(
        store.issue(issue_id).await.unwrap().unwrap().assignee_id,
        None
    );
    assert_eq!(store.list_members(org).await.unwrap().len(), 1);

    let renamed = store
        .update_user(dev.id, Some("Dev Eloper"), Some("new-hash"))
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.password_hash.as_str()),
        ("Dev Eloper", "new-hash")
    );
}

async fn deleting_a_project_deletes_everything_in_it(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let (_, keep) = project(&store, "keep").await;
    store.create_key(p, &"ab".repeat(16), "k").await.unwrap();
    write(&store, vec![Ev::new(p, "x", T), Ev::new(keep, "x", T)]).await;
    let epoch = store.config_epoch().await.unwrap();
    store.delete_project(p).await.unwrap();
    assert!(store.project(p).await.unwrap().is_none());
    assert!(store.lookup_key(&"ab".repeat(16)).await.unwrap().is_none());
    assert!(store.list_issues(p).await.unwrap().is_empty());
    assert_eq!(store.count_events(p).await.unwrap(), 0);
    assert_eq!(store.count_events(keep).await.unwrap(), 1);
    assert!(store.config_epoch().await.unwrap() > epoch);
    assert!(matches!(
        store.delete_project(p).await,
        Err(StoreError::NotFound("project"))
    ));
    let search = store
        .query_events(&EventQuery {
            project_id: keep,
            query: Some("something".into()),
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(search.items.len(), 1);
}
