//! Configuration layering: defaults → TOML file → `MESHER_*` environment → flags.

use anyhow::{Context, bail};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use mesher_server::config::{CONFIG_KEYS, Config, INTEGER_KEYS, Settings};
use serde::Serialize;

use crate::cli::Global;

/// The flags that override configuration keys; unset flags are left out.
#[derive(Serialize)]
struct Overrides<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<&'a std::path::Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_name: Option<&'a str>,
}

/// The `MESHER_<KEY>` variables of known keys: integers for integer keys, strings otherwise.
///
/// figment's own `Env` provider guesses types from the text (`MESHER_ADMIN_PASSWORD=12345678`
/// would become a number and fail as a password); the type of each key is known here. Unknown
/// `MESHER_*` names are ignored: `MESHER_TEST_DATABASE_URL` and friends belong to other tools.
struct Environment;

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named("MESHER_* environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict: Dict = CONFIG_KEYS
            .iter()
            .filter_map(|key| {
                let var = format!("MESHER_{}", key.to_ascii_uppercase());
                let raw = std::env::var(var).ok()?;
                let value = match raw.trim().parse::<u64>() {
                    Ok(n) if INTEGER_KEYS.contains(key) => Value::from(n),
                    _ => Value::from(raw),
                };
                Some((key.to_string(), value))
            })
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// Merges every layer and validates the result.
pub fn settings(global: &Global) -> anyhow::Result<Settings> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &global.config {
        if !path.is_file() {
            bail!("configuration file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment
        .merge(Environment)
        .merge(Serialized::defaults(Overrides {
            data_dir: global.data_dir.as_deref(),
            database_url: global.database_url.as_deref(),
            listen: global.listen.as_deref(),
            public_url: global.public_url.as_deref(),
            node_name: global.node_name.as_deref(),
        }));
    let config: Config = figment.extract().map_err(|errors| {
        let lines: Vec<String> = errors.into_iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("invalid configuration: {}", lines.join("; "))
    })?;
    config.validate().context("cannot start")
}
