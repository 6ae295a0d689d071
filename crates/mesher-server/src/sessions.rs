//! Signing in and out: password checks with throttling, session cookies, CSRF tokens.
//!
//! A session is a random token in an `HttpOnly; SameSite=Lax` cookie (plus `Secure` when Mesher
//! is served over https); the database keeps only its SHA-256 digest. Each session has a CSRF
//! token that cookie-authenticated mutations must echo (`X-CSRF-Token` for the API, a `_csrf`
//! form field for the dashboard), so another site cannot act with the user's cookie.
//!
//! Password guessing is throttled by [`LoginThrottle`] (failures only; per email and address
//! pair, per address, and per email without refusing an address that has not failed; in memory,
//! per node). The client address is [`crate::ingest::ClientIp`]'s, so `X-Forwarded-For` counts
//! only from `trusted_proxies`.

use std::net::IpAddr;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, header};
use mesher_store::{Session, User};

use crate::accounts::{token_digest, verify_password};
use crate::error::ApiError;
use crate::ratelimit::{retry_after_secs, sentry_rate_limits};
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "mesher_session";

/// How long a session lasts.
pub const SESSION_TTL: time::Duration = time::Duration::days(14);

/// A real hash of a password nobody has, checked when the email is unknown so that a failed
/// sign-in takes as long whether or not the account exists (no user enumeration by timing).
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::accounts::hash_password("no account has this password").unwrap_or_default()
});

pub use crate::login_throttle::LoginThrottle;

/// The answer to a refused attempt.
fn throttled(refused: crate::login_throttle::Refused) -> ApiError {
    let secs = retry_after_secs(refused.wait);
    ApiError::RateLimited {
        retry_after_secs: secs,
        sentry_limits: sentry_rate_limits(secs),
        message: format!("too many sign-in attempts; try again in {secs} s"),
    }
}

/// A new session: the secret for the cookie and the CSRF token for forms and headers.
pub struct NewSession {
    /// The cookie value.
    pub token: String,
    /// The CSRF token.
    pub csrf_token: String,
    /// The user.
    pub user: User,
}

fn random_hex<const N: usize>() -> Result<String, ApiError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Checks a password and opens a session.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<NewSession, ApiError> {
    let email = email.trim().to_lowercase();
    let attempt = state
        .login_throttle()
        .begin(&email, ip, Instant::now())
        .map_err(throttled)?;
    let user = state.store().user_by_email(&email).await?;
    let hash = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password = password.to_string();
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
    let user = match user {
        Some(u) if ok => u,
        // The attempt stays charged as a failure.
        _ => return Err(ApiError::Unauthorized("wrong email or password".into())),
    };
    state.login_throttle().succeeded(attempt, Instant::now());
    let token = random_hex::<32>()?;
    let csrf_token = random_hex::<16>()?;
    state
        .store()
        .create_session(
            user.id,
            &token_digest(&token),
            &csrf_token,
            mesher_store::now() + SESSION_TTL,
        )
        .await?;
    Ok(NewSession {
        token,
        csrf_token,
        user,
    })
}

/// Ends the session of this cookie value, if any.
pub async fn sign_out(state: &AppState, token: &str) -> Result<(), ApiError> {
    state.store().delete_session(&token_digest(token)).await?;
    Ok(())
}

/// The session cookie value sent with a request.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE)
}

/// The value of the cookie called `name`, if the request has one that is not empty.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The live session of this cookie value.
pub async fn session(state: &AppState, token: &str) -> Result<Option<Session>, ApiError> {
    Ok(state
        .store()
        .session(&token_digest(token), mesher_store::now())
        .await?)
}

/// `Set-Cookie` for a new session, or (with `None`) one that deletes the cookie.
pub fn set_cookie(state: &AppState, token: Option<&str>) -> HeaderValue {
    let path = format!("{}/", state.public_url().path().trim_end_matches('/'));
    let secure = if state.public_url().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let value = match token {
        Some(t) => format!(
            "{COOKIE}={t}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_TTL.whole_seconds()
        ),
        None => format!("{COOKIE}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    // Tokens are hex and paths come from a parsed URL: always a valid header value.
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("mesher_session=; Max-Age=0"))
}
