//! Releases as a build pipeline records them, on both backends: declared releases listed
//! newest first and dated when finalized, deploys per release, and commits replaced as a
//! whole, with "the previous release with commits" that `sentry-cli releases set-commits`
//! starts its range from.

mod common;
#[path = "support/events.rs"]
mod support;

use std::sync::Arc;

use mesher_store::*;
use support::project;
use time::Duration;
use time::macros::datetime;

conformance!(
    releases_are_listed_newest_first,
    deploys_are_kept_per_release_newest_first,
    commits_replace_the_last_set_and_name_the_previous_release,
);

const T: time::OffsetDateTime = datetime!(2026-12-01 12:00:00 UTC);

async fn org_of(store: &Arc<dyn Store>, project_id: i64) -> i64 {
    store.project(project_id).await.unwrap().unwrap().org_id
}

async fn releases_are_listed_newest_first(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "web").await;
    let (_, q) = project(&store, "api").await;
    for (i, v) in ["shop@1.0", "shop@1.1", "shop@1.2"].iter().enumerate() {
        let at = T + Duration::hours(i64::try_from(i).unwrap());
        assert!(store.declare_release(p, v, at).await.unwrap());
    }
    store.declare_release(q, "api@7", T).await.unwrap();
    // Finalizing one project's release dates it there only.
    assert!(
        store
            .finalize_release(p, "shop@1.1", T + Duration::hours(5))
            .await
            .unwrap()
    );
    assert!(!store.finalize_release(q, "shop@1.1", T).await.unwrap());
    let release = |version: &str, hours: i64, released: Option<i64>| ProjectRelease {
        version: version.into(),
        first_seen: T + Duration::hours(hours),
        date_released: released.map(|h| T + Duration::hours(h)),
    };
    let listed = store.project_releases(p, 2).await.unwrap();
    assert_eq!(
        listed,
        [
            release("shop@1.2", 2, None),
            release("shop@1.1", 1, Some(5))
        ]
    );
    assert_eq!(
        store.project_release(p, "shop@1.1").await.unwrap(),
        Some(release("shop@1.1", 1, Some(5)))
    );
    assert_eq!(store.project_release(q, "shop@1.1").await.unwrap(), None);
    assert_eq!(store.project_releases(q, 10).await.unwrap().len(), 1);
}

async fn deploys_are_kept_per_release_newest_first(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "web").await;
    let org = org_of(&store, p).await;
    let other = store.create_org("Other", "other").await.unwrap().id;
    assert_eq!(
        store.deploy_summary(org, "shop@1.0").await.unwrap(),
        (0, None)
    );
    let staging = store
        .add_deploy(&NewDeploy {
            org_id: org,
            version: "shop@1.0",
            environment: "staging",
            name: None,
            url: None,
            date_started: None,
            date_finished: T,
        })
        .await
        .unwrap();
    let production = store
        .add_deploy(&NewDeploy {
            org_id: org,
            version: "shop@1.0",
            environment: "production",
            name: Some("blue"),
            url: Some("https://ci.example.com/runs/7"),
            date_started: Some(T + Duration::minutes(5)),
            date_finished: T + Duration::minutes(9),
        })
        .await
        .unwrap();
    assert_eq!(production.environment, "production");
    assert_eq!(production.name.as_deref(), Some("blue"));
    assert_eq!(production.date_started, Some(T + Duration::minutes(5)));
    assert!(production.id > staging.id);
    assert_eq!(
        store.deploys(org, "shop@1.0", 10).await.unwrap(),
        [production.clone(), staging.clone()]
    );
    assert_eq!(
        store.deploys(org, "shop@1.0", 1).await.unwrap(),
        std::slice::from_ref(&production)
    );
    assert_eq!(
        store.deploy_summary(org, "shop@1.0").await.unwrap(),
        (2, Some(production))
    );
    // Another organization's release of the same name has none.
    assert!(
        store
            .deploys(other, "shop@1.0", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.deploys(org, "shop@2.0", 10).await.unwrap().is_empty());
}

fn commit(id: &str) -> ReleaseCommit {
    ReleaseCommit {
        id: id.repeat(40),
        repository: Some("acme/shop".into()),
        message: Some(format!("commit {id}")),
        author_name: Some("Ada".into()),
        author_email: Some("ada@example.com".into()),
        timestamp: Some(T),
    }
}

async fn commits_replace_the_last_set_and_name_the_previous_release(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "web").await;
    let (_, q) = project(&store, "api").await;
    let org = org_of(&store, p).await;
    let other = store.create_org("Other", "other").await.unwrap().id;
    // Releases by age: 1.0, then 1.1 (first had by the second project), then 1.2.
    store.declare_release(p, "shop@1.0", T).await.unwrap();
    store
        .declare_release(q, "shop@1.1", T + Duration::hours(1))
        .await
        .unwrap();
    store
        .declare_release(p, "shop@1.1", T + Duration::hours(3))
        .await
        .unwrap();
    store
        .declare_release(p, "shop@1.2", T + Duration::hours(2))
        .await
        .unwrap();
    assert!(
        store
            .release_commits(org, "shop@1.0")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.commit_summary(org, "shop@1.0").await.unwrap(),
        (0, None)
    );
    assert_eq!(
        store
            .previous_release_with_commits(org, "shop@1.2")
            .await
            .unwrap(),
        None
    );
    let bare = ReleaseCommit {
        id: "c".repeat(40),
        repository: None,
        message: None,
        author_name: None,
        author_email: None,
        timestamp: None,
    };
    // Set newest first: the order of setting does not matter, the releases' age does.
    store
        .set_release_commits(org, "shop@1.1", std::slice::from_ref(&bare))
        .await
        .unwrap();
    store
        .set_release_commits(org, "shop@1.0", &[commit("b"), commit("a")])
        .await
        .unwrap();
    assert_eq!(
        store.release_commits(org, "shop@1.0").await.unwrap(),
        [commit("b"), commit("a")]
    );
    assert_eq!(
        store.commit_summary(org, "shop@1.0").await.unwrap(),
        (2, Some(commit("b")))
    );
    assert_eq!(
        store.release_commits(org, "shop@1.1").await.unwrap(),
        std::slice::from_ref(&bare)
    );
    let previous = |v: &'static str| {
        let store = store.clone();
        async move { store.previous_release_with_commits(org, v).await.unwrap() }
    };
    assert_eq!(
        previous("shop@1.2").await,
        Some(("shop@1.1".to_string(), bare.clone()))
    );
    assert_eq!(
        previous("shop@1.1").await,
        Some(("shop@1.0".to_string(), commit("b")))
    );
    assert_eq!(previous("shop@1.0").await, None);
    // A release no project has yet: after the newest with commits.
    assert_eq!(
        previous("shop@9.0").await.map(|p| p.0).as_deref(),
        Some("shop@1.1")
    );
    assert_eq!(
        store
            .previous_release_with_commits(other, "shop@1.2")
            .await
            .unwrap(),
        None
    );
    // Setting again replaces the whole set; an empty set clears it.
    store
        .set_release_commits(org, "shop@1.0", &[commit("d")])
        .await
        .unwrap();
    assert_eq!(
        store.release_commits(org, "shop@1.0").await.unwrap(),
        [commit("d")]
    );
    assert_eq!(
        previous("shop@1.1").await,
        Some(("shop@1.0".to_string(), commit("d")))
    );
    store
        .set_release_commits(org, "shop@1.1", &[])
        .await
        .unwrap();
    assert!(
        store
            .release_commits(org, "shop@1.1")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        previous("shop@1.2").await.map(|p| p.0).as_deref(),
        Some("shop@1.0")
    );
    // Releases first seen at the same moment: the one named lower comes first.
    for v in ["shop@1.3", "shop@1.4"] {
        store
            .declare_release(p, v, T + Duration::hours(4))
            .await
            .unwrap();
    }
    store
        .set_release_commits(org, "shop@1.3", &[commit("e")])
        .await
        .unwrap();
    assert_eq!(
        previous("shop@1.4").await,
        Some(("shop@1.3".to_string(), commit("e")))
    );
    assert_eq!(
        previous("shop@1.3").await.map(|p| p.0).as_deref(),
        Some("shop@1.0")
    );
}
