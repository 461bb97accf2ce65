//! `config.toml` + environment (`MASTRA_GATEWAY__SECTION__KEY`) + CLI flags → one validated [`Config`].
//!
//! Precedence, lowest first: built-in defaults (a sidecar next to a local Mastra), the file, the
//! environment, the command-line flags. Every key is checked; an invalid value is refused with the
//! dotted key and the reason, so a bad deploy fails at start instead of at the first request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// Environment variable prefix; `__` separates the section from the key.
pub const ENV_PREFIX: &str = "MASTRA_GATEWAY__";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub models: ModelsConfig,
    pub logging: LoggingConfig,
    pub cache: CacheConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The OpenAI-compatible API listener.
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`; no auth, keep it off the public network.
    pub admin_listen: SocketAddr,
    /// Largest accepted request body; larger bodies get 413 before they are read.
    pub max_body_bytes: usize,
    /// A client must send its request headers within this time (slow-loris guard).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Open client connections above this are not accepted until others close.
    pub max_connections: usize,
    /// On shutdown, in-flight requests and streams get this long to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            max_body_bytes: 4 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Name used in error messages, logs and metrics.
    pub name: String,
    /// Base URL of the Mastra server; the gateway adds the `/api` prefix itself.
    pub url: Url,
    /// TCP (+TLS) connect timeout.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Non-streaming calls: the whole upstream answer must arrive within this.
    /// Streaming calls: the response headers must arrive within this.
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
    /// A stream with no upstream bytes for this long ends with `response.failed`.
    #[serde(with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
    /// Idle keep-alive connections kept per upstream host.
    pub pool_max_idle_per_host: usize,
    /// An idle pooled connection is closed after this.
    #[serde(with = "humantime_serde")]
    pub pool_idle_timeout: Duration,
    /// Timeout of each `/readyz` probe of the upstream.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            name: "default".to_string(),
            url: Url::parse("http://127.0.0.1:4111").expect("static URL"),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(300),
            stream_idle_timeout: Duration::from_secs(120),
            pool_max_idle_per_host: 256,
            pool_idle_timeout: Duration::from_secs(90),
            probe_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Agent used when a request names no model (and for conversations created without one).
    pub default: Option<String>,
    /// Extra model names: alias → agent id.
    pub aliases: BTreeMap<String, String>,
    /// How long the upstream's agent list is cached.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// `owned_by` of the model objects in `/v1/models`.
    pub owned_by: String,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            default: None,
            aliases: BTreeMap::new(),
            cache_ttl: Duration::from_secs(30),
            owned_by: "mastra".to_string(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How long a conversation lookup (agent, resource, metadata) is reused. The gateway's own
    /// updates and deletes refresh or drop the entry at once.
    #[serde(with = "humantime_serde")]
    pub conversation_ttl: Duration,
    /// Conversations kept at most.
    pub conversation_max_entries: u64,
    /// How long an item's position in its thread is remembered (an `after` cursor resumes
    /// with one upstream window while it is; a miss scans the thread).
    #[serde(with = "humantime_serde")]
    pub item_position_ttl: Duration,
    /// Item positions kept at most.
    pub item_position_max_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            conversation_ttl: Duration::from_secs(60),
            conversation_max_entries: 10_000,
            item_position_ttl: Duration::from_secs(600),
            item_position_max_entries: 200_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `text` (human-readable) or `json` (one object per line).
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `mastra_gateway=debug,info`. `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_string(),
        }
    }
}

/// Values given on the command line; they override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct CliOverrides {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub upstream: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Loads the config. `path = None` means `./config.toml` if it exists, else the defaults.
pub fn load(
    path: Option<&Path>,
    cli: &CliOverrides,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut table = match path {
        Some(p) => read_table(p)?,
        None => {
            let p = Path::new("config.toml");
            if p.exists() {
                read_table(p)?
            } else {
                toml::Table::new()
            }
        }
    };
    apply_env(&mut table, env)?;
    apply_cli(&mut table, cli);
    from_table(table)
}

/// Parses and validates a config given as TOML text (no environment, no flags).
pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: PathBuf::from("<string>"),
            message: e.to_string(),
        })?;
    from_table(table)
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

fn from_table(table: toml::Table) -> Result<Config, ConfigError> {
    let config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            invalid(&key, e.into_inner().to_string())
        })?;
    config.validate()?;
    Ok(config)
}

/// `MASTRA_GATEWAY__UPSTREAM__URL=http://…` sets `upstream.url`. A value that parses as a TOML
/// literal (number, bool, array, inline table) takes that type; anything else is a string.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(|s| s.is_empty()) {
            return Err(invalid(
                &name,
                "empty path segment in environment variable name",
            ));
        }
        set_path(table, &path, parse_env_value(&raw), &name)?;
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn set_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
    origin: &str,
) -> Result<(), ConfigError> {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut current = table;
    for segment in parents {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| invalid(origin, format!("`{segment}` is not a section")))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

fn apply_cli(table: &mut toml::Table, cli: &CliOverrides) {
    let pairs = [
        (["server", "listen"], &cli.listen),
        (["server", "admin_listen"], &cli.admin_listen),
        (["upstream", "url"], &cli.upstream),
    ];
    for (path, value) in pairs {
        if let Some(v) = value {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            // Both parents are sections of our own making, so this cannot fail.
            let _ = set_path(table, &path, toml::Value::String(v.clone()), "flag");
        }
    }
}

impl Config {
    /// Checks what serde cannot: ranges, URL schemes, references between keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if s.listen == s.admin_listen && s.listen.port() != 0 {
            return Err(invalid(
                "server.admin_listen",
                "must differ from server.listen",
            ));
        }
        if s.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        if s.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        nonzero("server.header_read_timeout", s.header_read_timeout)?;

        let u = &self.upstream;
        if !matches!(u.url.scheme(), "http" | "https") {
            return Err(invalid(
                "upstream.url",
                format!("scheme must be http or https, got `{}`", u.url.scheme()),
            ));
        }
        if u.url.host().is_none() {
            return Err(invalid("upstream.url", "has no host"));
        }
        if u.url.query().is_some() || u.url.fragment().is_some() {
            return Err(invalid("upstream.url", "must not have a query or fragment"));
        }
        if u.name.trim().is_empty() {
            return Err(invalid("upstream.name", "must not be empty"));
        }
        nonzero("upstream.connect_timeout", u.connect_timeout)?;
        nonzero("upstream.response_timeout", u.response_timeout)?;
        nonzero("upstream.stream_idle_timeout", u.stream_idle_timeout)?;
        nonzero("upstream.probe_timeout", u.probe_timeout)?;

        let m = &self.models;
        for (alias, agent) in &m.aliases {
            if alias.is_empty() || agent.is_empty() {
                return Err(invalid(
                    &format!("models.aliases.{alias}"),
                    "alias and agent id must be non-empty",
                ));
            }
        }
        if let Some(d) = &m.default {
            if d.is_empty() {
                return Err(invalid(
                    "models.default",
                    "must be a non-empty agent id or alias",
                ));
            }
        }
        let c = &self.cache;
        nonzero("cache.conversation_ttl", c.conversation_ttl)?;
        nonzero("cache.item_position_ttl", c.item_position_ttl)?;
        if c.conversation_max_entries == 0 {
            return Err(invalid(
                "cache.conversation_max_entries",
                "must be at least 1",
            ));
        }
        if c.item_position_max_entries == 0 {
            return Err(invalid(
                "cache.item_position_max_entries",
                "must be at least 1",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.logging.level)
            .map_err(|e| invalid("logging.level", e.to_string()))?;
        Ok(())
    }
}

fn nonzero(key: &str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        Err(invalid(key, "must be greater than zero"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_serve_a_sidecar() {
        let c = from_toml_str("").unwrap();
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.server.admin_listen.to_string(), "0.0.0.0:9090");
        assert_eq!(c.upstream.url.as_str(), "http://127.0.0.1:4111/");
    }

    #[test]
    fn shipped_config_toml_is_valid() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
        from_toml_str(&text).unwrap();
    }

    #[test]
    fn unknown_key_is_named() {
        let err = from_toml_str("[upstream]\nurll = \"http://x\"").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("upstream"), "{msg}");
        assert!(msg.contains("urll"), "{msg}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = from_toml_str("[server]\nheader_read_timeout = \"soon\"").unwrap_err();
        assert!(
            err.to_string().contains("server.header_read_timeout"),
            "{err}"
        );
        let err = from_toml_str("[upstream]\nurl = \"ftp://x\"").unwrap_err();
        assert!(err.to_string().contains("upstream.url"), "{err}");
        assert!(err.to_string().contains("ftp"), "{err}");
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let dir = std::env::temp_dir().join(format!("mg-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:1\"\n[upstream]\nurl = \"http://file:1\"\n",
        )
        .unwrap();
        let c = load(
            Some(&file),
            &CliOverrides {
                upstream: Some("http://flag:3".into()),
                ..Default::default()
            },
            env(&[
                ("MASTRA_GATEWAY__SERVER__LISTEN", "127.0.0.1:2"),
                ("MASTRA_GATEWAY__UPSTREAM__URL", "http://env:2"),
                ("MASTRA_GATEWAY__SERVER__MAX_BODY_BYTES", "2048"),
                ("MASTRA_GATEWAY__MODELS__ALIASES__GPT", "support-agent"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:2");
        assert_eq!(c.server.max_body_bytes, 2048);
        assert_eq!(c.upstream.url.as_str(), "http://flag:3/");
        assert_eq!(c.models.aliases["gpt"], "support-agent");
    }

    #[test]
    fn env_with_wrong_type_is_refused_with_key() {
        let err = load(
            Some(Path::new("/nonexistent/x.toml")),
            &CliOverrides::default(),
            env(&[]),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        let err = load(
            None,
            &CliOverrides::default(),
            env(&[("MASTRA_GATEWAY__SERVER__MAX_BODY_BYTES", "lots")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.max_body_bytes"), "{err}");
    }
}
