//! Issue 18: source map artifacts on both backends. Chunks are kept per organization until a
//! bundle made of them is stored; a bundle's files are found by debug ID, or by release and
//! URL through the minified file's map reference, newest first; retention removes them.

mod common;
#[path = "support/events.rs"]
mod support;

use std::sync::Arc;

use mesher_store::*;
use support::project;
use time::Duration;
use time::macros::datetime;

conformance!(
    chunks_are_kept_per_organization_until_assembled,
    bundles_are_found_by_debug_id_and_by_release_and_url,
    artifacts_expire_with_retention,
);

const T: time::OffsetDateTime = datetime!(2026-12-01 12:00:00 UTC);

async fn org_of(store: &Arc<dyn Store>, project_id: i64) -> i64 {
    store.project(project_id).await.unwrap().unwrap().org_id
}

async fn chunks_are_kept_per_organization_until_assembled(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "web").await;
    let org = org_of(&store, p).await;
    let other = store.create_org("Other", "other").await.unwrap().id;
    let (a, b) = ("a".repeat(40), "b".repeat(40));
    store
        .put_chunks(org, &[(a.clone(), b"first".to_vec())], T)
        .await
        .unwrap();
    // Sent twice (a retry): kept once, unchanged.
    store
        .put_chunks(org, &[(a.clone(), b"first".to_vec())], T)
        .await
        .unwrap();
    let both = [a.clone(), b.clone()];
    assert_eq!(
        store.missing_chunks(org, &both).await.unwrap(),
        vec![b.clone()]
    );
    assert_eq!(store.missing_chunks(other, &both).await.unwrap(), both);
    assert_eq!(store.chunks(org, &both).await.unwrap(), None);
    store
        .put_chunks(org, &[(b.clone(), b"second".to_vec())], T)
        .await
        .unwrap();
    assert_eq!(
        store.chunks(org, &[b.clone(), a.clone()]).await.unwrap(),
        Some(vec![b"second".to_vec(), b"first".to_vec()])
    );
    assert_eq!(store.chunks(other, &both).await.unwrap(), None);

    store
        .store_bundle(&NewBundle {
            org_id: org,
            project_ids: &[p],
            bundle_id: "bundle-1",
            release: None,
            dist: None,
            files: &[],
            chunks: &both,
            now: T,
        })
        .await
        .unwrap();
    assert_eq!(store.missing_chunks(org, &both).await.unwrap(), both);
}

fn file(kind: ArtifactKind, url: &str, debug_id: Option<&str>, content: &str) -> NewArtifact {
    NewArtifact {
        kind,
        url: url.into(),
        debug_id: debug_id.map(str::to_string),
        sourcemap_url: (kind == ArtifactKind::MinifiedSource).then(|| format!("{url}.map")),
        content: content.as_bytes().to_vec(),
    }
}

async fn bundles_are_found_by_debug_id_and_by_release_and_url(store: Arc<dyn Store>) {
    let (_, web) = project(&store, "web").await;
    let (_, api) = project(&store, "api").await;
    let org = org_of(&store, web).await;
    let id = "3b394457-5d7b-57c0-b113-3a4c5ed2ef4e";
    let bundle = |content: &'static str| {
        vec![
            file(
                ArtifactKind::MinifiedSource,
                "~/app.min.js",
                Some(id),
                "min",
            ),
            file(
                ArtifactKind::SourceMap,
                "~/app.min.js.map",
                Some(id),
                content,
            ),
        ]
    };
    let first = bundle("{\"map\": 1}");
    store
        .store_bundle(&NewBundle {
            org_id: org,
            project_ids: &[web, api],
            bundle_id: "b1",
            release: Some("web@1.0"),
            dist: None,
            files: &first,
            chunks: &[],
            now: T,
        })
        .await
        .unwrap();
    for p in [web, api] {
        let found = store.source_map_by_debug_id(p, id).await.unwrap().unwrap();
        assert_eq!(found.map_url, "~/app.min.js.map");
        assert_eq!(found.map, b"{\"map\": 1}");
        assert_eq!(found.minified.as_deref(), Some(&b"min"[..]));
    }
    assert_eq!(
        store
            .source_map_by_debug_id(web, "00000000-0000-0000-0000-000000000000")
            .await
            .unwrap(),
        None
    );
    // The same debug ID uploaded again: the newest wins.
    let second = bundle("{\"map\": 2}");
    store
        .store_bundle(&NewBundle {
            org_id: org,
            project_ids: &[web],
            bundle_id: "b2",
            release: Some("web@1.0"),
            dist: Some("7"),
            files: &second,
            chunks: &[],
            now: T,
        })
        .await
        .unwrap();
    let newest = store
        .source_map_by_debug_id(web, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.map, b"{\"map\": 2}");

    // By release, dist and URL, through the minified file's map reference.
    let by_url = |dist: Option<&'static str>| {
        let store = store.clone();
        async move {
            store
                .source_map_by_url(web, "web@1.0", dist, "~/app.min.js")
                .await
                .unwrap()
                .map(|a| a.map)
        }
    };
    assert_eq!(by_url(None).await.unwrap(), b"{\"map\": 1}");
    assert_eq!(by_url(Some("7")).await.unwrap(), b"{\"map\": 2}");
    assert_eq!(by_url(Some("8")).await, None);
    assert_eq!(
        store
            .source_map_by_url(web, "web@2.0", None, "~/app.min.js")
            .await
            .unwrap(),
        None
    );
}

async fn artifacts_expire_with_retention(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "web").await;
    let org = org_of(&store, p).await;
    let id = "3b394457-5d7b-57c0-b113-3a4c5ed2ef4e";
    let files = [file(ArtifactKind::SourceMap, "~/a.js.map", Some(id), "{}")];
    for (bundle_id, at) in [("old", T - Duration::days(40)), ("new", T)] {
        store
            .store_bundle(&NewBundle {
                org_id: org,
                project_ids: &[p],
                bundle_id,
                release: None,
                dist: None,
                files: &files,
                chunks: &[],
                now: at,
            })
            .await
            .unwrap();
    }
    let stale = "c".repeat(40);
    store
        .put_chunks(
            org,
            &[(stale.clone(), b"never assembled".to_vec())],
            T - Duration::days(2),
        )
        .await
        .unwrap();
    let gone = store
        .expire_artifacts(p, T - Duration::days(30))
        .await
        .unwrap();
    assert_eq!(gone, 1);
    assert_eq!(store.expire_chunks(T - Duration::days(1)).await.unwrap(), 1);
    assert!(store.source_map_by_debug_id(p, id).await.unwrap().is_some());
    assert_eq!(
        store
            .missing_chunks(org, std::slice::from_ref(&stale))
            .await
            .unwrap(),
        [stale]
    );
    let gone = store
        .expire_artifacts(p, T + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(gone, 1);
    assert_eq!(store.source_map_by_debug_id(p, id).await.unwrap(), None);
}
