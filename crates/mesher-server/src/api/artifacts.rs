//! The part of Sentry's web API that `sentry-cli sourcemaps upload` uses (issue 18), so that a
//! browser team moves to Mesher without changing its build: chunk-upload options, chunk upload
//! and artifact-bundle assembly, under Sentry's paths (`/api/0/organizations/{org}/…`),
//! authenticated by a Mesher API token with write scope.
//!
//! `sentry-cli` splits a bundle (a ZIP of minified files and maps with a `manifest.json`,
//! behind a `SYSB` header) into chunks named by their SHA-1, asks which ones the server lacks,
//! uploads those (gzip-compressed), then asks again to assemble. Assembly checks everything
//! (checksums, the archive, every map parses, minified files and maps agree on debug IDs)
//! before storing anything.

use std::io::{Cursor, Read};

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::routing::{get, post};
use mesher_protocol::sourcemaps::SourceMapFile;
use mesher_store::{ArtifactKind, NewArtifact, NewBundle, Organization, Role, Scope};
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest chunk `sentry-cli` is told to send (Sentry's own size).
pub const CHUNK_SIZE: usize = 8 * 1024 * 1024;
/// Most chunks in one upload request.
const CHUNKS_PER_REQUEST: usize = 8;
/// Largest upload request: the chunks of one request with room for the form around them.
pub const MAX_REQUEST_BYTES: usize = CHUNKS_PER_REQUEST * CHUNK_SIZE;
/// Largest bundle, assembled.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;
/// Largest file inside a bundle, uncompressed.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Most a bundle may unpack to, all files together: a ZIP compresses a thousandfold, so the
/// bundle's own size bounds nothing.
const MAX_UNPACKED_BYTES: u64 = 128 * 1024 * 1024;
/// Most files in a bundle.
const MAX_FILES: usize = 10_000;

/// The routes, with their own body limit (larger than the API's).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/0/organizations/{org}/chunk-upload/",
            get(options).post(upload),
        )
        .route(
            "/api/0/organizations/{org}/artifactbundle/assemble/",
            post(assemble),
        )
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES + 64 * 1024))
}

/// The organization named by `slug`, when the caller may upload to it (write scope, any role):
/// 404 for a non-member, as everywhere in the API.
pub(super) async fn org_for_upload(
    state: &AppState,
    caller: &Caller,
    slug: &str,
) -> Result<Organization, ApiError> {
    org_for(state, caller, slug, Scope::Write).await
}

/// The organization named by `slug`, when the caller is a member whose credential has `scope`:
/// 404 for a non-member, 403 for too low a scope.
pub(super) async fn org_for(
    state: &AppState,
    caller: &Caller,
    slug: &str,
    scope: Scope,
) -> Result<Organization, ApiError> {
    let not_found = || ApiError::NotFound(format!("organization {slug:?} not found"));
    let org = state
        .store()
        .org_by_slug(slug)
        .await?
        .ok_or_else(not_found)?;
    if caller.role_in(org.id).is_none() {
        return Err(not_found());
    }
    caller.require(org.id, scope, Role::Member)?;
    Ok(org)
}

/// `GET …/chunk-upload/`: how to upload.
async fn options(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = org_for_upload(&state, &caller, &slug).await?;
    let url = state
        .public_url()
        .join(&format!("api/0/organizations/{}/chunk-upload/", org.slug))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({
        "url": url.as_str(),
        "chunkSize": CHUNK_SIZE,
        "chunksPerRequest": CHUNKS_PER_REQUEST,
        "maxFileSize": MAX_BUNDLE_BYTES,
        "maxRequestSize": MAX_REQUEST_BYTES,
        "concurrency": 1,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        "accept": ["artifact_bundles"],
    })))
}

fn is_checksum(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// `POST …/chunk-upload/`: a multipart form of chunks, each a `file` or `file_gzip` field
/// whose file name is the SHA-1 of its (uncompressed) bytes.
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    mut form: Multipart,
) -> Result<Json<Value>, ApiError> {
    let org = org_for_upload(&state, &caller, &slug).await?;
    let mut chunks = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("the upload form cannot be read: {e}")))?
    {
        let gzip = match field.name() {
            Some("file") => false,
            Some("file_gzip") => true,
            _ => continue,
        };
        let checksum = field.file_name().unwrap_or_default().to_ascii_lowercase();
        if !is_checksum(&checksum) {
            return Err(ApiError::BadRequest(format!(
                "a chunk must be named by the SHA-1 of its bytes, not {checksum:?}"
            )));
        }
        if chunks.len() == CHUNKS_PER_REQUEST {
            return Err(ApiError::PayloadTooLarge(format!(
                "at most {CHUNKS_PER_REQUEST} chunks per request"
            )));
        }
        let body = field
            .bytes()
            .await
            .map_err(|e| ApiError::PayloadTooLarge(format!("the upload is too large: {e}")))?;
        let data = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(CHUNK_SIZE as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::BadRequest(format!("chunk {checksum}: not gzip: {e}")))?;
            out
        } else {
            body.to_vec()
        };
        if data.len() > CHUNK_SIZE {
            return Err(ApiError::PayloadTooLarge(format!(
                "chunk {checksum} is larger than the chunk size, {CHUNK_SIZE} bytes"
            )));
        }
        if sha1_hex(&data) != checksum {
            return Err(ApiError::BadRequest(format!(
                "chunk {checksum}: its bytes do not have that SHA-1"
            )));
        }
        chunks.push((checksum, data));
    }
    // An organization's chunks wait for their bundle's assembly (or a day): without a bound, a
    // client that never assembles could fill the disk within that day. Chunks it has already
    // are not counted twice; concurrent uploads may pass the bound by one request each.
    let limit = state.settings().limits.max_pending_chunk_bytes;
    let names: Vec<String> = chunks.iter().map(|(c, _)| c.clone()).collect();
    let missing = state.store().missing_chunks(org.id, &names).await?;
    let mut counted = std::collections::HashSet::new();
    let adding: u64 = chunks
        .iter()
        .filter(|(c, _)| missing.contains(c) && counted.insert(c))
        .map(|(_, data)| data.len() as u64)
        .sum();
    let pending = state.store().pending_chunk_bytes(org.id).await?;
    if adding > 0 && pending + adding > limit {
        return Err(ApiError::PayloadTooLarge(format!(
            "the organization holds {pending} bytes of chunks not yet assembled, and at most \
             {limit} (max_pending_chunk_bytes): assemble them, or wait until they expire, a day \
             after their upload"
        )));
    }
    state
        .store()
        .put_chunks(org.id, &chunks, mesher_store::now())
        .await?;
    Ok(Json(json!({})))
}

/// An assemble request.
#[derive(Debug, Deserialize)]
struct AssembleBody {
    checksum: String,
    chunks: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    /// The release.
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dist: Option<String>,
}

/// The answer `sentry-cli` reads: the state, the chunks still missing, and why it failed.
fn assembled(state: &str, missing: Vec<String>, detail: Option<String>) -> Json<Value> {
    Json(json!({"state": state, "missingChunks": missing, "detail": detail}))
}

/// `POST …/artifactbundle/assemble/`: makes a bundle of uploaded chunks and stores its files
/// for the projects named. Answers `not_found` with the chunks to upload first, `ok` once
/// stored, or `error` with the reason (nothing stored).
async fn assemble(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let org = org_for_upload(&state, &caller, &slug).await?;
    let body: AssembleBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the assemble request cannot be read: {e}")))?;
    let checksum = body.checksum.to_ascii_lowercase();
    let chunks: Vec<String> = body.chunks.iter().map(|c| c.to_ascii_lowercase()).collect();
    if !is_checksum(&checksum) || chunks.is_empty() || !chunks.iter().all(|c| is_checksum(c)) {
        return Err(ApiError::BadRequest(
            "checksum and chunks must be SHA-1 checksums, with at least one chunk".into(),
        ));
    }
    if chunks.len() > MAX_BUNDLE_BYTES.div_ceil(CHUNK_SIZE) {
        return Err(ApiError::PayloadTooLarge(format!(
            "a bundle may be at most {MAX_BUNDLE_BYTES} bytes"
        )));
    }
    if body.projects.is_empty() {
        return Err(ApiError::BadRequest(
            "projects: name at least one project (--project)".into(),
        ));
    }
    let all = state.store().list_projects(Some(org.id)).await?;
    let mut project_ids = Vec::new();
    for slug in &body.projects {
        let project = all.iter().find(|p| &p.slug == slug).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "projects: {slug:?} is not a project of {:?}",
                org.slug
            ))
        })?;
        project_ids.push(project.id);
    }

    let missing = state.store().missing_chunks(org.id, &chunks).await?;
    if !missing.is_empty() {
        return Ok(assembled("not_found", missing, None));
    }
    let Some(parts) = state.store().chunks(org.id, &chunks).await? else {
        // Assembled by a concurrent request meanwhile: its chunks are gone.
        let missing = state.store().missing_chunks(org.id, &chunks).await?;
        return Ok(assembled("not_found", missing, None));
    };
    let size: usize = parts.iter().map(Vec::len).sum();
    if size > MAX_BUNDLE_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "the bundle is {size} bytes; at most {MAX_BUNDLE_BYTES}"
        )));
    }
    let bundle = parts.concat();
    if sha1_hex(&bundle) != checksum {
        return Ok(assembled(
            "error",
            Vec::new(),
            Some("the chunks do not add up to the bundle's checksum".into()),
        ));
    }
    // Unpacking holds up to [`MAX_UNPACKED_BYTES`]: as many at once as the node has CPU slots.
    let _slot = state
        .cpu_slots()
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let read = tokio::task::spawn_blocking(move || read_bundle(&bundle))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (bundle_id, files) = match read {
        Ok(read) => read,
        Err(reason) => return Ok(assembled("error", Vec::new(), Some(reason))),
    };
    state
        .store()
        .store_bundle(&NewBundle {
            org_id: org.id,
            project_ids: &project_ids,
            bundle_id: bundle_id.as_deref().unwrap_or(&checksum),
            release: body.version.as_deref().filter(|v| !v.is_empty()),
            dist: body.dist.as_deref().filter(|v| !v.is_empty()),
            files: &files,
            chunks: &chunks,
            now: mesher_store::now(),
        })
        .await?;
    state.source_maps().forget();
    tracing::info!(org = %org.slug, files = files.len(), "artifact bundle stored");
    Ok(assembled("ok", Vec::new(), None))
}

/// A manifest entry.
#[derive(Debug, Deserialize)]
struct ManifestFile {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    #[serde(default)]
    headers: serde_json::Map<String, Value>,
}

/// A bundle's manifest.
#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    files: serde_json::Map<String, Value>,
    #[serde(default)]
    debug_id: Option<String>,
}

/// A header of a manifest entry, whatever its case.
fn header<'a>(file: &'a ManifestFile, name: &str) -> Option<&'a str> {
    file.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// `url`'s directory joined with `reference` (a map named next to its file), as Sentry
/// resolves `~/static/app.js` + `app.js.map` to `~/static/app.js.map`.
fn sibling(url: &str, reference: &str) -> String {
    if reference.starts_with("~/") || reference.contains("://") {
        return reference.to_string();
    }
    let dir = url.rsplit_once('/').map_or("~", |(dir, _)| dir);
    format!("{dir}/{}", reference.trim_start_matches("./"))
}

/// The files of a bundle, checked: the archive reads, each map parses, and a minified file
/// and the map it names agree on their debug ID. `Err` says what is wrong, for the uploader.
fn read_bundle(bundle: &[u8]) -> Result<(Option<String>, Vec<NewArtifact>), String> {
    // Behind `SYSB` and a version (symbolic's source-bundle header) comes a ZIP whose offsets
    // count from the header's start: the archive is read whole, the reader finds the ZIP.
    let mut archive = zip::ZipArchive::new(Cursor::new(bundle))
        .map_err(|e| format!("the bundle is not a ZIP archive: {e}"))?;
    if archive.len() > MAX_FILES {
        return Err(format!("the bundle has more than {MAX_FILES} files"));
    }
    let mut unpacked = 0u64;
    let mut read = |name: &str| -> Result<Vec<u8>, String> {
        let entry = archive
            .by_name(name)
            .map_err(|e| format!("{name}: cannot be read from the bundle: {e}"))?;
        let room = MAX_FILE_BYTES.min(MAX_UNPACKED_BYTES - unpacked);
        let too_large = || {
            format!(
                "{name}: the bundle unpacks to more than it may: {MAX_FILE_BYTES} bytes a file, \
                 {MAX_UNPACKED_BYTES} in all"
            )
        };
        // The size the archive declares, then what is actually read (it may lie).
        if entry.size() > room {
            return Err(too_large());
        }
        let mut out = Vec::new();
        entry
            .take(room + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: cannot be read from the bundle: {e}"))?;
        if out.len() as u64 > room {
            return Err(too_large());
        }
        unpacked += out.len() as u64;
        Ok(out)
    };
    let manifest: Manifest = serde_json::from_slice(&read("manifest.json")?)
        .map_err(|e| format!("manifest.json cannot be read: {e}"))?;
    let mut files = Vec::new();
    for (path, entry) in &manifest.files {
        let Ok(entry) = serde_json::from_value::<ManifestFile>(entry.clone()) else {
            return Err(format!("manifest.json: the entry of {path} cannot be read"));
        };
        let kind = match entry.kind.as_str() {
            "minified_source" => ArtifactKind::MinifiedSource,
            "source_map" => ArtifactKind::SourceMap,
            // Original sources and other kinds are not needed to map frames.
            _ => continue,
        };
        let debug_id = match header(&entry, "debug-id") {
            None => None,
            Some(id) => Some(
                mesher_protocol::normalize::canonical_debug_id(id)
                    .ok_or_else(|| format!("{}: debug ID {id:?} is not a UUID", entry.url))?,
            ),
        };
        let content = read(path)?;
        if kind == ArtifactKind::SourceMap {
            let map = SourceMapFile::parse(&content, None, &entry.url)
                .map_err(|e| format!("{}: {e}", entry.url))?;
            // The map's own debug ID must be the one it is uploaded under, or events would be
            // mapped with another build's map.
            if let (Some(inside), Some(header)) = (map.debug_id(), &debug_id)
                && &inside != header
            {
                return Err(format!(
                    "{} is uploaded for debug ID {header} but holds debug ID {inside}: the map \
                     is from another build",
                    entry.url
                ));
            }
        }
        files.push(NewArtifact {
            kind,
            sourcemap_url: header(&entry, "sourcemap").map(|r| sibling(&entry.url, r)),
            url: entry.url,
            debug_id,
            content,
        });
    }
    // A minified file and the map it names must agree on the debug ID, or events would be
    // mapped with another build's map.
    for file in files
        .iter()
        .filter(|f| f.kind == ArtifactKind::MinifiedSource)
    {
        let (Some(map_url), Some(id)) = (&file.sourcemap_url, &file.debug_id) else {
            continue;
        };
        if let Some(map) = files
            .iter()
            .find(|m| m.kind == ArtifactKind::SourceMap && &m.url == map_url)
            && let Some(map_id) = &map.debug_id
            && map_id != id
        {
            return Err(format!(
                "{} has debug ID {id} but its source map {} has {map_id}: the map is from \
                 another build",
                file.url, map.url
            ));
        }
    }
    if files.is_empty() {
        return Err("the bundle holds no minified file or source map".into());
    }
    Ok((manifest.debug_id, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_found_next_to_their_files() {
        assert_eq!(
            sibling("~/static/app.js", "app.js.map"),
            "~/static/app.js.map"
        );
        assert_eq!(
            sibling("~/app.js", "./maps/app.js.map"),
            "~/maps/app.js.map"
        );
        assert_eq!(sibling("~/a/app.js", "~/b/app.js.map"), "~/b/app.js.map");
    }

    #[test]
    fn what_is_not_a_bundle_is_said() {
        assert!(
            read_bundle(b"SYSB\x02\x00\x00\x00not a zip")
                .unwrap_err()
                .contains("ZIP")
        );
        assert!(read_bundle(b"").is_err());
    }
}
