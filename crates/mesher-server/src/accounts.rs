//! Account operations shared by the CLI and the HTTP API: projects with their first key, users
//! with hashed passwords, API tokens, and the first-start bootstrap.
//!
//! Secrets are made here: DSN public keys (16 random bytes as 32 hex chars, like Sentry's),
//! passwords (argon2id PHC strings) and API tokens (stored only as a SHA-256 digest: a token has
//! 192 bits of entropy, so a fast digest is as safe as a slow hash and keeps authentication cheap).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use mesher_store::{
    ApiToken, BootstrapPlan, Bootstrapped, NewApiToken, NewProject, NewUser, Project, ProjectKey,
    Role, Scope, Store, StoreError, User,
};
use sha2::{Digest, Sha256};
use thiserror::Error;
use url::Url;

/// Why an account operation failed.
#[derive(Debug, Error)]
pub enum AccountError {
    /// The storage layer refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An input is unusable; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Prefix of every API token, so that leaked tokens are recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "mshr_";

fn random_bytes<const N: usize>() -> Result<[u8; N], AccountError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| AccountError::Random(e.to_string()))?;
    Ok(buf)
}

/// A new DSN public key: 32 lowercase hex characters.
pub fn generate_public_key() -> Result<String, AccountError> {
    Ok(hex::encode(random_bytes::<16>()?))
}

/// A webhook signing secret (issue 16): `whsec_` and 48 hex characters.
pub fn generate_webhook_secret() -> Result<String, AccountError> {
    Ok(format!("whsec_{}", hex::encode(random_bytes::<24>()?)))
}

/// A readable random password for the first-start admin.
pub fn generate_password() -> Result<String, AccountError> {
    Ok(hex::encode(random_bytes::<12>()?))
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < 8 {
        return Err(AccountError::Invalid(
            "password: must be at least 8 characters".into(),
        ));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Checks a password against a stored PHC string; a malformed hash never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The digest under which a token is stored.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A URL-safe slug: lowercase ASCII letters, digits and single dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug.truncate(50);
    slug
}

/// The slug for `name`: `slug` when given and well-formed, else one made from `name`.
pub(crate) fn checked_slug(name: &str, slug: Option<&str>) -> Result<String, AccountError> {
    if name.trim().is_empty() {
        return Err(AccountError::Invalid("name: must not be empty".into()));
    }
    let slug = match slug {
        Some(s) => {
            if slugify(s) != s {
                return Err(AccountError::Invalid(format!(
                    "slug: {s:?} may only contain lowercase letters, digits and dashes"
                )));
            }
            s.to_string()
        }
        None => slugify(name),
    };
    if slug.is_empty() {
        return Err(AccountError::Invalid(format!(
            "name: {name:?} has no letters or digits to make a slug from; pass a slug"
        )));
    }
    Ok(slug)
}

/// The DSN of a key: `scheme://<public_key>@<host[:port]>[/prefix]/<project_id>`.
pub fn dsn(public_url: &Url, public_key: &str, project_id: i64) -> String {
    let mut base = public_url.clone();
    // Only http(s) URLs reach here (validated config), and those always accept a username.
    let _ = base.set_username(public_key);
    let _ = base.set_password(None);
    let prefix = base.path().trim_end_matches('/').to_string();
    base.set_path(&format!("{prefix}/{project_id}"));
    base.to_string()
}

/// Creates an organization.
pub async fn create_org(
    store: &dyn Store,
    name: &str,
    slug: Option<&str>,
) -> Result<mesher_store::Organization, AccountError> {
    let slug = checked_slug(name, slug)?;
    Ok(store.create_org(name.trim(), &slug).await?)
}

/// Creates a project in an organization together with its first DSN key.
pub async fn create_project(
    store: &dyn Store,
    org_id: i64,
    name: &str,
    slug: Option<&str>,
    platform: Option<&str>,
) -> Result<(Project, ProjectKey), AccountError> {
    let slug = checked_slug(name, slug)?;
    let project = store
        .create_project(&NewProject {
            org_id,
            name: name.trim(),
            slug: &slug,
            platform: platform.map(str::trim).filter(|p| !p.is_empty()),
        })
        .await?;
    let key = store
        .create_key(project.id, &generate_public_key()?, "Default")
        .await?;
    Ok((project, key))
}

/// Creates a user with a hashed password, optionally as a member of an organization.
pub async fn create_user(
    store: &dyn Store,
    email: &str,
    name: Option<&str>,
    password: &str,
    membership: Option<(i64, Role)>,
) -> Result<User, AccountError> {
    let email = email.trim();
    if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return Err(AccountError::Invalid(format!(
            "email: {email:?} is not an email address"
        )));
    }
    let hash = hash_password(password)?;
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email));
    let user = store
        .create_user(&NewUser {
            email,
            name,
            password_hash: &hash,
        })
        .await?;
    if let Some((org_id, role)) = membership {
        store.add_member(org_id, user.id, role).await?;
    }
    Ok(user)
}

/// Creates an API token for a user; the token is returned once and never stored.
pub async fn create_token(
    store: &dyn Store,
    user_id: i64,
    label: &str,
    scope: Scope,
) -> Result<(String, ApiToken), AccountError> {
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(random_bytes::<24>()?));
    let digest = token_digest(&token);
    let record = store
        .create_token(&NewApiToken {
            user_id,
            label: label.trim(),
            scope,
            token_hash: &digest,
            prefix: &token[..TOKEN_PREFIX.len() + 6],
        })
        .await?;
    Ok((token, record))
}

/// What the first start created, with the admin password when it was generated.
#[derive(Debug)]
pub struct BootstrapReport {
    /// The rows created.
    pub created: Bootstrapped,
    /// The generated admin password, to print once; `None` when it was configured.
    pub generated_password: Option<String>,
}

/// Creates organization `default`, project `default` with one key, and the admin user, unless
/// this database was bootstrapped before (or already has organizations).
pub async fn bootstrap(
    store: &dyn Store,
    admin_email: &str,
    admin_password: Option<&str>,
) -> Result<Option<BootstrapReport>, AccountError> {
    let (password, generated) = match admin_password {
        Some(p) => (p.to_string(), false),
        None => (generate_password()?, true),
    };
    // Hashing is deliberately slow; skip it when a quick look says the work was done.
    if !store.list_orgs().await?.is_empty() {
        return Ok(None);
    }
    let hash = hash_password(&password)?;
    let public_key = generate_public_key()?;
    let created = store
        .bootstrap(&BootstrapPlan {
            org: ("Default", "default"),
            project: ("Default", "default"),
            public_key: &public_key,
            admin: NewUser {
                email: admin_email,
                name: "Admin",
                password_hash: &hash,
            },
        })
        .await?;
    Ok(created.map(|created| BootstrapReport {
        created,
        generated_password: generated.then_some(password),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_are_32_hex() {
        let k = generate_public_key().unwrap();
        assert_eq!(k.len(), 32);
        assert!(
            k.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(k, generate_public_key().unwrap());
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse!"));
        assert!(!verify_password("garbage", "correct horse"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("My Cool  Project!"), "my-cool-project");
        assert_eq!(slugify("  Ünïcode ok "), "n-code-ok");
        assert_eq!(slugify("--"), "");
        assert!(checked_slug("x", Some("Bad Slug")).is_err());
        assert!(checked_slug("!!!", None).is_err());
        assert_eq!(checked_slug("Api", Some("api-2")).unwrap(), "api-2");
    }

    #[test]
    fn dsns_have_the_sentry_form() {
        let key = "0123456789abcdef0123456789abcdef";
        let u = Url::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(dsn(&u, key, 7), format!("http://{key}@127.0.0.1:8000/7"));
        let u = Url::parse("https://errors.example.com/sentry/").unwrap();
        assert_eq!(
            dsn(&u, key, 1),
            format!("https://{key}@errors.example.com/sentry/1")
        );
    }

    #[test]
    fn tokens_digest_deterministically() {
        assert_eq!(token_digest("a"), token_digest("a"));
        assert_eq!(token_digest("a").len(), 64);
    }
}
