//! The management subcommands. Each acts directly on the configured database, so it works next
//! to a running server (same `--data-dir` or `--database-url`) and before the first `serve`.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use mesher_server::accounts;
use mesher_server::config::Settings;
use mesher_server::ops::projects::KeyRef;
use mesher_server::ops::{self, Actor, Ops, OpsError};
use mesher_store::{Role, Scope, Store};
use serde_json::{Value, json};

use crate::cli::{Command, KeyCommand, OrgCommand, ProjectCommand, TokenCommand, UserCommand};

/// Connects to the configured database and applies pending migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = mesher_store::connect(&settings.database)
        .await
        .with_context(|| format!("cannot open the database {}", settings.database))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {}", settings.database))?;
    Ok(store)
}

/// Runs one management command and prints its result.
pub async fn run(settings: Settings, command: Command, json: bool) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    // The first command on an empty database sets it up as `serve` would, so that scripts can
    // rely on organization `default` existing.
    let password = settings.admin_password.as_ref().map(|p| p.expose());
    if let Some(report) =
        accounts::bootstrap(store.as_ref(), &settings.admin_email, password).await?
    {
        let pw = report
            .generated_password
            .as_deref()
            .unwrap_or("the configured admin_password");
        eprintln!(
            "First use of this database: created organization \"default\", project \"default\" \
             and admin {} (password: {pw}).",
            report.created.admin.email
        );
    }
    let public_url = cli_public_url(&settings, store.as_ref()).await?;
    let dsn = |key: &str, project: i64| accounts::dsn(&public_url, key, project);
    let store = store.as_ref();
    // The operator acts on the bare store, with every permission.
    let (ops, operator) = (Ops::Offline(store), Actor::Operator);

    let (value, text): (Value, String) = match command {
        Command::Serve => unreachable!("serve is dispatched by main"),
        Command::Alert(command) => crate::alert_commands::run(ops, operator, command).await?,
        Command::Migrate => (
            json!({"migrated": true, "backend": store.backend()}),
            format!("Database {} is up to date.", settings.database),
        ),
        Command::Org(OrgCommand::Create { name, slug }) => {
            let org = ops::orgs::create_org(ops, operator, &name, slug.as_deref()).await?;
            let text = format!("Created organization {} (id {}).", org.slug, org.id);
            (
                json!({"id": org.id, "slug": org.slug, "name": org.name}),
                text,
            )
        }
        Command::Org(OrgCommand::List) => {
            let orgs = store.list_orgs().await?;
            let text = table(
                orgs.iter()
                    .map(|o| vec![o.id.to_string(), o.slug.clone(), o.name.clone()]),
                &["ID", "SLUG", "NAME"],
            );
            (serde_json::to_value(&orgs)?, text)
        }
        Command::Project(ProjectCommand::Create {
            org,
            name,
            platform,
            slug,
        }) => {
            let org = org_by_slug(store, &org).await?;
            let (project, key) = ops::projects::create_project(
                ops,
                operator,
                &org,
                &name,
                slug.as_deref(),
                platform.as_deref(),
            )
            .await?;
            let dsn = dsn(&key.public_key, project.id);
            let text = format!(
                "Created project {}/{} (id {}).\nDSN: {dsn}",
                org.slug, project.slug, project.id
            );
            (
                json!({"id": project.id, "slug": project.slug, "name": project.name, "org": org.slug,
                       "platform": project.platform, "public_key": key.public_key, "dsn": dsn}),
                text,
            )
        }
        Command::Project(ProjectCommand::List { org }) => {
            let org_id = match org {
                Some(slug) => Some(org_by_slug(store, &slug).await?.id),
                None => None,
            };
            let projects = store.list_projects(org_id).await?;
            let text = table(
                projects.iter().map(|p| {
                    vec![
                        p.id.to_string(),
                        p.org_id.to_string(),
                        p.slug.clone(),
                        p.platform.clone().unwrap_or_default(),
                    ]
                }),
                &["ID", "ORG", "SLUG", "PLATFORM"],
            );
            (serde_json::to_value(&projects)?, text)
        }
        Command::Project(ProjectCommand::Update {
            id,
            name,
            platform,
            retention_days,
            sample_rate,
            rate_limit,
            max_events_per_issue_per_hour,
            scrub_data,
            scrub_ip_addresses,
            sensitive_fields,
            safe_fields,
        }) => {
            let list = |text: String| ops::projects::field_list(&text);
            let update = mesher_store::ProjectUpdate {
                name,
                platform: platform.map(|p| Some(p).filter(|p| !p.trim().is_empty())),
                retention_days,
                sample_rate,
                rate_limit_per_minute: rate_limit,
                scrub_data,
                scrub_ip_addresses,
                sensitive_fields: sensitive_fields.map(list),
                safe_fields: safe_fields.map(list),
                max_events_per_issue_per_hour: max_events_per_issue_per_hour.map(Some),
            };
            let project = ops::projects::update_project(ops, operator, id, &update)
                .await
                .map_err(|e| project_hint(e, id))?;
            let text = format!(
                "Updated project {} (id {}): retention {} days, sample rate {}, {} events per minute, \
                 data scrubbing {}, IP addresses {}.",
                project.slug,
                project.id,
                project.retention_days,
                project.sample_rate,
                match project.rate_limit_per_minute {
                    0 => "unlimited".to_string(),
                    n => n.to_string(),
                },
                if project.scrub_data { "on" } else { "off" },
                if project.scrub_ip_addresses {
                    "removed"
                } else {
                    "kept"
                }
            );
            (serde_json::to_value(&project)?, text)
        }
        Command::Key(KeyCommand::Create { project, label }) => {
            let key = ops::projects::create_key(ops, operator, project, Some(&label))
                .await
                .map_err(|e| project_hint(e, project))?;
            let dsn = dsn(&key.public_key, project);
            let text = format!(
                "Created key {} for project {project}.\nDSN: {dsn}",
                key.public_key
            );
            (
                json!({"public_key": key.public_key, "dsn": dsn, "project_id": project, "label": key.label}),
                text,
            )
        }
        Command::Key(KeyCommand::List { project }) => {
            ensure_project(store, project).await?;
            let keys = store.list_keys(project).await?;
            let rows: Vec<Value> = keys
                .iter()
                .map(|k| {
                    let mut v = serde_json::to_value(k).unwrap_or_default();
                    v["dsn"] = json!(dsn(&k.public_key, project));
                    v
                })
                .collect();
            let text = table(
                keys.iter().map(|k| {
                    vec![
                        k.public_key.clone(),
                        k.label.clone(),
                        if k.revoked_at.is_some() {
                            "revoked".into()
                        } else {
                            "active".into()
                        },
                        dsn(&k.public_key, project),
                    ]
                }),
                &["PUBLIC KEY", "LABEL", "STATE", "DSN"],
            );
            (Value::Array(rows), text)
        }
        Command::Key(KeyCommand::Revoke { public_key }) => {
            let key =
                ops::projects::revoke_key(ops, operator, KeyRef::Anywhere(&public_key)).await?;
            let text = format!(
                "Revoked key {} of project {}.",
                key.public_key, key.project_id
            );
            (serde_json::to_value(&key)?, text)
        }
        Command::User(UserCommand::Create {
            email,
            password,
            name,
            org,
            role,
        }) => {
            let membership = match org {
                Some(slug) => {
                    let org = org_by_slug(store, &slug).await?;
                    let role: Role = role.as_deref().unwrap_or("member").parse()?;
                    Some((org.id, role))
                }
                None => None,
            };
            let user = accounts::create_user(store, &email, name.as_deref(), &password, membership)
                .await?;
            let text = format!("Created user {} (id {}).", user.email, user.id);
            (
                json!({"id": user.id, "email": user.email, "name": user.name}),
                text,
            )
        }
        Command::User(UserCommand::List) => {
            let users = store.list_users().await?;
            let text = table(
                users
                    .iter()
                    .map(|u| vec![u.id.to_string(), u.email.clone(), u.name.clone()]),
                &["ID", "EMAIL", "NAME"],
            );
            (serde_json::to_value(&users)?, text)
        }
        Command::Token(TokenCommand::Create { user, scope, label }) => {
            let user = user_by_email(store, &user).await?;
            let scope: Scope = scope.parse()?;
            let (token, record) =
                ops::tokens::create(ops, operator, user.id, &label, scope).await?;
            let text = format!(
                "Created {scope} token {} for {} — copy it now, it is not shown again:\n{token}",
                record.id, user.email
            );
            (
                json!({"token": token, "id": record.id, "scope": scope, "user": user.email}),
                text,
            )
        }
        Command::Token(TokenCommand::List { user }) => {
            let user = user_by_email(store, &user).await?;
            let tokens = store.list_tokens(user.id).await?;
            let text = table(
                tokens.iter().map(|t| {
                    vec![
                        t.id.to_string(),
                        format!("{}…", t.prefix),
                        t.scope.to_string(),
                        t.label.clone(),
                        if t.revoked_at.is_some() {
                            "revoked".into()
                        } else {
                            "active".into()
                        },
                    ]
                }),
                &["ID", "TOKEN", "SCOPE", "LABEL", "STATE"],
            );
            (serde_json::to_value(&tokens)?, text)
        }
        Command::Token(TokenCommand::Revoke { user, id }) => {
            let user = user_by_email(store, &user).await?;
            let token = ops::tokens::revoke(ops, operator, user.id, id).await?;
            (
                serde_json::to_value(&token)?,
                format!("Revoked token {}.", token.id),
            )
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{text}");
    }
    Ok(())
}

async fn org_by_slug(store: &dyn Store, slug: &str) -> anyhow::Result<mesher_store::Organization> {
    store
        .org_by_slug(slug)
        .await?
        .ok_or_else(|| anyhow!("organization {slug:?} not found (see `mesher org list`)"))
}

async fn user_by_email(store: &dyn Store, email: &str) -> anyhow::Result<mesher_store::User> {
    store
        .user_by_email(email)
        .await?
        .ok_or_else(|| anyhow!("user {email:?} not found (see `mesher user list`)"))
}

async fn ensure_project(store: &dyn Store, id: i64) -> anyhow::Result<()> {
    store
        .project(id)
        .await?
        .map(|_| ())
        .ok_or_else(|| anyhow!("project {id} not found (see `mesher project list`)"))
}

/// A missing project named with where to find the right one.
pub(crate) fn project_hint(e: OpsError, id: i64) -> anyhow::Error {
    match e {
        OpsError::NotFound("project") => {
            anyhow!("project {id} not found (see `mesher project list`)")
        }
        other => other.into(),
    }
}

/// Left-aligned columns for humans.
pub(crate) fn table(rows: impl Iterator<Item = Vec<String>>, header: &[&str]) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The public URL DSNs are printed with: the configured `public_url`, else the one the server
/// last served at (stored by `serve`), else the default from `listen`. Without the stored one a
/// server started with `--public-url` would print DSNs the CLI could not repeat (issue 11).
async fn cli_public_url(settings: &Settings, store: &dyn Store) -> anyhow::Result<url::Url> {
    if let Some(url) = &settings.public_url {
        return Ok(url.clone());
    }
    if let Some(stored) = store.meta(mesher_server::PUBLIC_URL_META).await?
        && let Ok(url) = url::Url::parse(&stored)
    {
        return Ok(url);
    }
    Ok(settings.public_url_for(settings.listen))
}
