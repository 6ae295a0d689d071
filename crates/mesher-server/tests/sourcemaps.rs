//! Issue 18: JavaScript source maps end to end, with the real tools. A small app is built by
//! esbuild into a minified bundle with its map, marked by `sentry-cli sourcemaps inject` and
//! uploaded by `sentry-cli sourcemaps upload` to a running Mesher; the bundle then throws under
//! the real `@sentry/node`, and the stored event reads as the original source. A rebuild with
//! a change elsewhere lands in the same issue; bad uploads are refused with a reason and store
//! nothing.
//!
//! The tools come from npm (`common/js.rs`); without them the tests fail.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TestServer;
use common::api::{Api, owner_token, user_token};
use common::js::{self, ok, run, said};
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use reqwest::Method;
use serde_json::Value;

on_both_backends!(
    uploaded_maps_turn_minified_frames_into_the_original_source,
    maps_without_debug_ids_are_found_by_release_and_url,
    bad_uploads_are_refused_with_a_reason_and_store_nothing,
    unassembled_chunks_are_bounded_per_organization,
);

/// The app: a checkout whose total throws on an item without a price. `padding` adds code
/// above it, as a change elsewhere in a later build would.
fn app_source(padding: usize) -> String {
    let mut source = String::new();
    for i in 0..padding {
        source.push_str(&format!(
            "export function helper{i}(x) {{\n  return x * {i} + 1;\n}}\n"
        ));
    }
    source.push_str(
        "function computeTotal(items) {\n  let total = 0;\n  for (const item of items) {\n    \
         total += item.price.amount;\n  }\n  return total;\n}\n\
         export function checkout(cart) {\n  return computeTotal(cart.items);\n}\n\
         window.runCheckout = () => checkout({ items: [{ price: null }] });\n",
    );
    source
}

/// The test project's slug.
const PROJECT: &str = "test-project";

/// `sentry-cli sourcemaps upload` of `dir/dist` to the server's test project.
fn upload(tools: &Path, s: &TestServer, token: &str, org: &str, dir: &Path) -> Output {
    js::upload(tools, &s.url, token, (org, PROJECT), dir)
}

/// Builds the app with `padding` into `dir`.
fn build(tools: &Path, dir: &Path, padding: usize) {
    js::build(tools, dir, &app_source(padding), &[]);
}

/// Runs the bundle of `dir` under @sentry/node; the event's id.
fn throw(tools: &Path, s: &TestServer, dir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sourcemaps/run_bundle.js");
    let out = ok(
        run(Command::new("node")
            .env("NODE_PATH", tools)
            .arg(script)
            .arg(&s.dsn)
            .arg(dir.join("dist/app.min.js"))
            .arg("shop@1.0")),
        "the bundle under @sentry/node",
    );
    out.trim().replace('-', "")
}

fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

/// An artifact bundle as sentry-cli makes one: (url, type, debug ID, content) per file.
fn bundle_with(files: &[(&str, &str, &str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(b"SYSB\x02\x00\x00\x00".to_vec());
    out.set_position(8);
    let mut zip = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut manifest = serde_json::Map::new();
    for (i, (url, kind, debug_id, content)) in files.iter().enumerate() {
        let path = format!("files/_/_/{i}");
        manifest.insert(
            path.clone(),
            serde_json::json!({"type": kind, "url": url, "headers": {"debug-id": debug_id}}),
        );
        zip.start_file(path, options).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.start_file("manifest.json", options).unwrap();
    zip.write_all(&serde_json::to_vec(&serde_json::json!({"files": manifest})).unwrap())
        .unwrap();
    zip.finish().unwrap().into_inner()
}

/// `POST …/chunk-upload/` of one chunk, named by its SHA-1, as sentry-cli sends it.
async fn upload_chunk(
    api: &reqwest::Client,
    base: &str,
    token: &str,
    data: Vec<u8>,
) -> reqwest::Response {
    let checksum = sha1_hex(&data);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(data).file_name(checksum),
    );
    api.post(format!("{base}/chunk-upload/"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// `POST …/artifactbundle/assemble/` with `body`.
async fn assemble(
    api: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Value,
) -> reqwest::Response {
    api.post(format!("{base}/artifactbundle/assemble/"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The assemble request of a bundle uploaded as one chunk, for the test project.
fn assemble_one(checksum: &str) -> Value {
    serde_json::json!({"checksum": checksum, "chunks": [checksum], "projects": [PROJECT]})
}

async fn org_slug(s: &TestServer) -> String {
    s.store.org(s.org_id).await.unwrap().unwrap().slug
}

async fn event(api: &Api, s: &TestServer, id: &str) -> Value {
    api.ok(
        Method::GET,
        &format!("/api/v1/projects/{}/events/{id}", s.project_id),
        None,
    )
    .await
}

/// The frame where the error happened (the last one).
fn crash_frame(event: &Value) -> Value {
    let frames = event["exception"][0]["stacktrace"]["frames"]
        .as_array()
        .or_else(|| event["exception"]["values"][0]["stacktrace"]["frames"].as_array())
        .unwrap_or_else(|| panic!("no frames: {event:#}"));
    frames.last().unwrap().clone()
}

async fn uploaded_maps_turn_minified_frames_into_the_original_source(backend: Backend) {
    let tools = js::tools();
    let s = TestServer::start(backend).await;
    let token = owner_token(&s).await;
    let api = Api::new(&s, Some(token.clone()));
    let org = org_slug(&s).await;
    let work = tempfile::tempdir().unwrap();

    // A build script declares the release first, and finalizes it after the upload.
    let cli = |args: &[&str]| {
        run(Command::new(tools.join(".bin/sentry-cli"))
            .env("SENTRY_AUTH_TOKEN", &token)
            .args(["--url", &s.url, "releases"])
            .args(args)
            .args(["--org", &org, "--project", PROJECT]))
    };
    let said_new = ok(cli(&["new", "shop@1.0"]), "sentry-cli releases new");
    assert!(said_new.contains("Created release shop@1.0"), "{said_new}");
    assert!(
        s.store
            .project_release(s.project_id, "shop@1.0")
            .await
            .unwrap()
            .is_some()
    );
    ok(cli(&["new", "shop@1.0"]), "sentry-cli releases new, again");
    assert!(
        !cli(&["new", "latest"]).status.success(),
        "not a release name"
    );

    let first = work.path().join("v1");
    build(&tools, &first, 0);
    // Before its maps are uploaded: the frames stay as sent, and the event says why.
    let early = throw(&tools, &s, &first);
    s.wait_for_events(1).await;
    let stored = event(&api, &s, &early).await;
    assert_eq!(crash_frame(&stored)["function"], "n");
    let notes = stored.to_string();
    assert!(notes.contains("no source map at the time"), "{notes}");

    let said = ok(
        upload(&tools, &s, &token, &org, &first),
        "sentry-cli sourcemaps upload",
    );
    assert!(said.contains("app.min.js.map"), "{said}");
    let finalized = ok(
        cli(&["finalize", "shop@1.0"]),
        "sentry-cli releases finalize",
    );
    assert!(
        finalized.contains("Finalized release shop@1.0"),
        "{finalized}"
    );
    assert!(
        !cli(&["finalize", "shop@9.9"]).status.success(),
        "an unknown release"
    );
    let id = throw(&tools, &s, &first);
    s.wait_for_events(2).await;
    let stored = event(&api, &s, &id).await;
    let frame = crash_frame(&stored);
    assert_eq!(frame["function"], "computeTotal", "{frame:#}");
    assert_eq!(frame["filename"], "src/app.js", "{frame:#}");
    assert_eq!(frame["lineno"], 4, "{frame:#}");
    assert_eq!(
        frame["context_line"], "    total += item.price.amount;",
        "{frame:#}"
    );
    let issue = stored["issue_id"].as_i64().expect("issue id");
    // The issue page shows the original frame, with the minified ones on demand.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let signed_in = browser
        .post(format!("{}/api/v1/auth/login", s.url))
        .json(&serde_json::json!({"email": "owner@example.com", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let page = browser
        .get(format!(
            "{}/projects/{}/issues/{issue}",
            s.url, s.project_id
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [
        "computeTotal",
        "src/app.js",
        "total += item.price.amount;",
        "Minified frames, as sent",
        "app.min.js",
    ] {
        assert!(page.contains(shown), "{shown} is not on the issue page");
    }

    // A rebuild with code added above: new debug ID, other minified positions; the same issue.
    let second = work.path().join("v2");
    build(&tools, &second, 3);
    ok(
        upload(&tools, &s, &token, &org, &second),
        "the second upload",
    );
    let id = throw(&tools, &s, &second);
    s.wait_for_events(3).await;
    let stored = event(&api, &s, &id).await;
    assert_eq!(crash_frame(&stored)["lineno"], 13);
    assert_eq!(stored["issue_id"].as_i64(), Some(issue), "the same issue");
    // The event stored before the upload is not rewritten.
    assert_eq!(crash_frame(&event(&api, &s, &early).await)["function"], "n");
}

/// Where V8 says the bundle of `dir` throws: (line, column) of its first frame.
fn throw_site(dir: &Path) -> (u64, u64) {
    let bundle = dir.join("dist/app.min.js");
    let script = format!(
        "global.window = global; require({:?}); \
         try {{ window.runCheckout() }} catch (e) {{ console.log(e.stack.split('\\n')[1]) }}",
        bundle.display().to_string()
    );
    let line = ok(run(Command::new("node").args(["-e", &script])), "node");
    // "    at n (/…/dist/app.min.js:2:55)"
    let site = line.trim().trim_end_matches(')');
    let mut parts = site.rsplit(':');
    let col = parts.next().and_then(|c| c.parse().ok());
    let row = parts.next().and_then(|r| r.parse().ok());
    row.zip(col)
        .unwrap_or_else(|| panic!("no position in {line:?}"))
}

/// Uploads without debug IDs (before `sourcemaps inject`): maps are found by the event's
/// release and the file's URL (`~/app.min.js`, on any origin).
async fn maps_without_debug_ids_are_found_by_release_and_url(backend: Backend) {
    let tools = js::tools();
    let s = TestServer::start(backend).await;
    let token = owner_token(&s).await;
    let api = Api::new(&s, Some(token.clone()));
    let org = org_slug(&s).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("old");
    js::bundle(&tools, &dir, &app_source(0), &[]);
    ok(upload(&tools, &s, &token, &org, &dir), "the upload");
    let (lineno, colno) = throw_site(&dir);
    let url = "https://shop.example.com/app.min.js";
    let frame = serde_json::json!({"abs_path": url, "filename": url, "function": "n",
                                   "lineno": lineno, "colno": colno, "in_app": true});
    let sent = |release: &str| {
        serde_json::json!({
            "platform": "javascript", "release": release,
            "exception": {"values": [{"type": "TypeError", "value": "null has no amount",
                                      "stacktrace": {"frames": [frame.clone()]}}]},
        })
    };
    let id = common::api::ingest(&s, sent("shop@1.0")).await;
    let other = common::api::ingest(&s, sent("shop@2.0")).await;
    s.wait_for_events(2).await;
    let mapped = crash_frame(&event(&api, &s, &id).await);
    assert_eq!(mapped["function"], "computeTotal", "{mapped:#}");
    assert_eq!(mapped["lineno"], 4, "{mapped:#}");
    let unmapped = crash_frame(&event(&api, &s, &other).await);
    assert_eq!(
        unmapped["function"], "n",
        "another release has no maps: {unmapped:#}"
    );
}

/// Chunks wait for their bundle's assembly; an organization may hold `max_pending_chunk_bytes`
/// of them, so that a client that never assembles cannot fill the disk.
async fn unassembled_chunks_are_bounded_per_organization(backend: Backend) {
    const MIB: usize = 1024 * 1024;
    let s = TestServer::start_with(backend, |settings| {
        settings.limits.max_pending_chunk_bytes = 3 * MIB as u64;
    })
    .await;
    let token = owner_token(&s).await;
    let org = org_slug(&s).await;
    let api = reqwest::Client::new();
    let base = format!("{}/api/0/organizations/{org}", s.url);
    let chunk = |fill: u8, size: usize| vec![fill; size];
    let r = upload_chunk(&api, &base, &token, chunk(b'a', 2 * MIB)).await;
    assert_eq!(r.status(), 200);
    // Sent again (a retry): already held, not counted twice.
    let r = upload_chunk(&api, &base, &token, chunk(b'a', 2 * MIB)).await;
    assert_eq!(r.status(), 200);
    let over = chunk(b'b', 2 * MIB);
    let over_sum = sha1_hex(&over);
    let r = upload_chunk(&api, &base, &token, over).await;
    assert_eq!(r.status(), 413);
    let said = r.text().await.unwrap();
    assert!(said.contains("max_pending_chunk_bytes"), "{said}");
    assert_eq!(
        s.store
            .missing_chunks(s.org_id, std::slice::from_ref(&over_sum))
            .await
            .unwrap(),
        [over_sum]
    );
    assert_eq!(
        s.store.pending_chunk_bytes(s.org_id).await.unwrap(),
        2 * MIB as u64
    );
    // What fits still goes in.
    let r = upload_chunk(&api, &base, &token, chunk(b'c', MIB)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.store.pending_chunk_bytes(s.org_id).await.unwrap(),
        3 * MIB as u64
    );
}

async fn bad_uploads_are_refused_with_a_reason_and_store_nothing(backend: Backend) {
    let tools = js::tools();
    let s = TestServer::start(backend).await;
    let token = owner_token(&s).await;
    let org = org_slug(&s).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("app");
    build(&tools, &dir, 0);
    let map_path = dir.join("dist/app.min.js.map");
    let map: Value = serde_json::from_slice(&std::fs::read(&map_path).unwrap()).unwrap();
    let debug_id = map["debugId"]
        .as_str()
        .expect("sentry-cli's debugId")
        .to_string();
    let nothing_stored = || async {
        assert_eq!(
            s.store
                .source_map_by_debug_id(s.project_id, &debug_id)
                .await
                .unwrap(),
            None
        );
    };

    // A token that may only read: sentry-cli fails, and Mesher says why.
    let (_, reader, _) = user_token(
        &s,
        "reader@example.com",
        (s.org_id, Role::Member),
        Scope::Read,
    )
    .await;
    let out = upload(&tools, &s, &reader, &org, &dir);
    assert!(!out.status.success(), "{}", said(&out));
    let api = reqwest::Client::new();
    let base = format!("{}/api/0/organizations/{org}", s.url);
    let r = api
        .get(format!("{base}/chunk-upload/"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let refused = r.text().await.unwrap();
    assert!(refused.contains("scope"), "{refused}");
    // Another organization's slug: not found, as for a slug that does not exist.
    let other = s.store.create_org("Globex", "globex").await.unwrap();
    let out = upload(&tools, &s, &token, &other.slug, &dir);
    let text = said(&out);
    assert!(
        !out.status.success() && text.contains("not found"),
        "{text}"
    );
    nothing_stored().await;

    // A map of another build: the minified file and its map disagree on the debug ID.
    let mut wrong = map.clone();
    wrong["debugId"] = "00000000-1111-2222-3333-444444444444".into();
    std::fs::write(&map_path, serde_json::to_vec(&wrong).unwrap()).unwrap();
    let out = upload(&tools, &s, &token, &org, &dir);
    let text = said(&out);
    assert!(
        !out.status.success() && text.contains("another build"),
        "{text}"
    );
    nothing_stored().await;

    // A corrupt map (sentry-cli leaves unreadable maps out, so the bundle is made here, as
    // sentry-cli makes them: `SYSB`, a version, then a ZIP with a manifest).
    let bundle = bundle_with(&[
        (
            "~/app.min.js",
            "minified_source",
            &debug_id,
            &b"function n(){}"[..],
        ),
        (
            "~/app.min.js.map",
            "source_map",
            &debug_id,
            br#"{"version": 3, "mappings": "!!!"#,
        ),
    ]);
    let checksum = sha1_hex(&bundle);
    let r = upload_chunk(&api, &base, &token, bundle).await;
    assert_eq!(r.status(), 200);
    let r = assemble(&api, &base, &token, &assemble_one(&checksum)).await;
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["state"], "error", "{answer}");
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.contains("app.min.js.map: the source map cannot be read"),
        "{detail}"
    );
    nothing_stored().await;

    // A bundle that unpacks far beyond its size (65 MiB of zeros in a few KiB).
    let zeros = vec![0u8; 65 * 1024 * 1024];
    let bomb = bundle_with(&[("~/app.min.js", "minified_source", &debug_id, &zeros)]);
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let checksum = sha1_hex(&bomb);
    let r = upload_chunk(&api, &base, &token, bomb).await;
    assert_eq!(r.status(), 200);
    let answer: Value = assemble(&api, &base, &token, &assemble_one(&checksum))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["state"], "error", "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("unpacks to more"),
        "{answer}"
    );

    // Too large: a chunk over the chunk size, a bundle over the bundle size (413, said why).
    let big = vec![b'x'; 8 * 1024 * 1024 + 1];
    let r = upload_chunk(&api, &base, &token, big).await;
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("chunk size"));
    let nine = serde_json::json!({
        "checksum": "a".repeat(40),
        "chunks": vec!["b".repeat(40); 9],
        "projects": [PROJECT],
    });
    let r = assemble(&api, &base, &token, &nine).await;
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("at most"));
}
