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

/// The first bytes of every request body, which need no room in
/// `server.max_buffered_body_bytes` (a typical request is a few KB).
pub const BODY_FREE_BYTES: usize = 64 * 1024;

/// Environment variable prefix; `__` separates the section from the key.
pub const ENV_PREFIX: &str = "MASTRA_GATEWAY__";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    /// Several Mastra servers; when empty, `[upstream]` alone is the upstream.
    pub upstreams: Vec<UpstreamEntry>,
    pub models: ModelsConfig,
    pub logging: LoggingConfig,
    pub cache: CacheConfig,
    pub telemetry: TelemetryConfig,
    /// API keys and tenants; no keys = an open gateway.
    pub auth: AuthConfig,
    /// Rate limits; nothing set = unlimited.
    pub limits: LimitsConfig,
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
    /// A request's whole body must arrive within this time of its headers; a slower or stalled
    /// upload is answered 408 and its connection closed.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Request-body bytes held at once by all requests together, above the first
    /// [`BODY_FREE_BYTES`] of each (which every request may hold, so small requests never wait
    /// behind big uploads). A bigger body waits for room, within its `body_read_timeout`.
    pub max_buffered_body_bytes: usize,
    /// Most request headers accepted, and their total size (names + values); over either: 431
    /// in OpenAI's envelope. Real clients send ~15 headers in ~1 KB.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// `POST /v1/responses`: most items in `input`, and most bytes of text in it (all its
    /// strings together); over either: 400 naming `input`. One huge input would stall the
    /// agent (and Mastra) for every caller.
    pub max_input_items: usize,
    pub max_input_bytes: usize,
    /// A client must send its request headers within this time (slow-loris guard).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Open client connections above this are not accepted until others close.
    pub max_connections: usize,
    /// On shutdown, in-flight requests and streams get this long to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Total deadline of one request: a non-streaming one is answered 504 after it, a stream
    /// ends with `response.failed` when it passes.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            max_buffered_body_bytes: 64 * 1024 * 1024,
            max_headers: 100,
            max_header_bytes: 32 * 1024,
            max_input_items: 1000,
            max_input_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
            request_timeout: Duration::from_secs(600),
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
    /// Headers sent on every upstream request (e.g. a Mastra bearer token). `${VAR}` in a
    /// value is replaced by that environment variable at load time.
    pub headers: BTreeMap<String, String>,
    /// Forward the client's own `Authorization` header to Mastra (off: it never leaves the
    /// gateway; configured `headers` still apply and win).
    pub forward_authorization: bool,
    /// Consecutive upstream faults (no answer, or a 5xx; never a 4xx, which the request caused)
    /// after which an upstream is marked down and fails fast with 503 until a health probe sees
    /// it back.
    pub failure_threshold: u32,
    /// How often down upstreams are probed.
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
    /// Retries of idempotent upstream GETs after a transport error or 502/503/504.
    pub get_retries: u32,
    /// First retry delay; doubled on each further retry.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
}

/// One of several Mastra servers (`[[upstreams]]`); transport settings come from `[upstream]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamEntry {
    pub name: String,
    pub url: Url,
    /// Merged over `[upstream].headers`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Agent ids (or globs like `support-*`) this upstream serves; default all it lists.
    #[serde(default = "all_agents")]
    pub agents: Vec<String>,
}

fn all_agents() -> Vec<String> {
    vec!["*".to_string()]
}

/// A resolved upstream: name, URL, headers with `${VAR}` expanded, agent patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    pub name: String,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub agents: Vec<String>,
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
            headers: BTreeMap::new(),
            forward_authorization: false,
            failure_threshold: 5,
            health_interval: Duration::from_secs(5),
            get_retries: 2,
            retry_backoff: Duration::from_millis(50),
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
    /// How long a stored response's thread (response id → thread, agent) is remembered, so
    /// that a tenant check on `previous_response_id` or a delete costs no upstream call.
    #[serde(with = "humantime_serde")]
    pub response_ttl: Duration,
    /// Response → thread entries kept at most.
    pub response_max_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            conversation_ttl: Duration::from_secs(60),
            conversation_max_entries: 10_000,
            item_position_ttl: Duration::from_secs(600),
            item_position_max_entries: 200_000,
            response_ttl: Duration::from_secs(600),
            response_max_entries: 100_000,
        }
    }
}

/// `[auth]`: the API keys. With none, the gateway is open (and says so at start).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub keys: Vec<ApiKeyConfig>,
}

/// One `[[auth.keys]]` entry: a tenant's key.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Names the key in logs and errors (never the key itself). Unique.
    pub name: String,
    /// Hex SHA-256 of the key (`mastra-gateway hash-key`); the key itself is never stored.
    pub sha256: String,
    /// The tenant's Mastra resource id: its conversations and stored responses live there.
    pub resource_id: String,
    /// Agent ids or globs (`support-*`) the key may use; default all.
    #[serde(default = "all_agents")]
    pub agents: Vec<String>,
    /// This key's request rate, instead of `[limits].per_key`.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// This key's cap on open streams, instead of `[limits].max_concurrent_streams_per_key`.
    #[serde(default)]
    pub max_concurrent_streams: Option<u32>,
}

/// A GCRA rate: `per_second` or `per_minute` requests on average, in bursts of up to `burst`
/// (default: that number, rounded up).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default)]
    pub per_second: Option<f64>,
    #[serde(default)]
    pub per_minute: Option<f64>,
    #[serde(default)]
    pub burst: Option<u32>,
}

/// `[limits]`: request rates and stream caps. Each one unset = unlimited.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// One ceiling for all requests to this gateway process.
    pub global: Option<RateLimit>,
    /// Each API key's rate (a key's `rate_limit` overrides it).
    pub per_key: Option<RateLimit>,
    /// Each agent's rate of `POST /v1/responses` (agent runs), all keys together.
    pub per_agent: Option<RateLimit>,
    /// Streams one API key may have open at once (a key's `max_concurrent_streams` overrides it).
    pub max_concurrent_streams_per_key: Option<u32>,
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

/// `[telemetry]`: OpenTelemetry traces. Read at start (a reload does not change them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP collector (`http://collector:4318`); spans go to
    /// `<url>/v1/traces` as protobuf. Unset: no exporter, no tracing overhead.
    pub otlp_endpoint: Option<Url>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces (no sampled parent from the client) that are recorded, 0.0–1.0.
    pub sample_ratio: f64,
    /// Timeout of one export to the collector.
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "mastra-gateway".to_string(),
            sample_ratio: 1.0,
            export_timeout: Duration::from_secs(10),
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
        nonzero("server.body_read_timeout", s.body_read_timeout)?;
        if s.max_buffered_body_bytes < s.max_body_bytes {
            return Err(invalid(
                "server.max_buffered_body_bytes",
                "must be at least server.max_body_bytes (else the largest body could never be read)",
            ));
        }
        for (key, v, min) in [
            ("server.max_headers", s.max_headers, 16),
            ("server.max_header_bytes", s.max_header_bytes, 4096),
            ("server.max_input_items", s.max_input_items, 1),
            ("server.max_input_bytes", s.max_input_bytes, 1024),
        ] {
            if v < min {
                return Err(invalid(key, format!("must be at least {min}")));
            }
        }
        nonzero("server.request_timeout", s.request_timeout)?;

        let u = &self.upstream;
        check_upstream_url("upstream.url", &u.url)?;
        if u.name.trim().is_empty() {
            return Err(invalid("upstream.name", "must not be empty"));
        }
        if u.failure_threshold == 0 {
            return Err(invalid("upstream.failure_threshold", "must be at least 1"));
        }
        nonzero("upstream.health_interval", u.health_interval)?;
        let mut names = std::collections::BTreeSet::new();
        for (i, e) in self.upstreams.iter().enumerate() {
            check_upstream_url(&format!("upstreams[{i}].url"), &e.url)?;
            if e.name.trim().is_empty() {
                return Err(invalid(
                    &format!("upstreams[{i}].name"),
                    "must not be empty",
                ));
            }
            if !names.insert(e.name.as_str()) {
                return Err(invalid(
                    &format!("upstreams[{i}].name"),
                    format!("`{}` is used by another upstream", e.name),
                ));
            }
            if e.agents.is_empty() {
                return Err(invalid(
                    &format!("upstreams[{i}].agents"),
                    "must list at least one agent or glob (\"*\" for all)",
                ));
            }
        }
        self.upstream_specs()?;
        if u.forward_authorization && !self.auth.keys.is_empty() {
            return Err(invalid(
                "upstream.forward_authorization",
                "cannot be used with [[auth.keys]]: it would send the clients' gateway keys to Mastra",
            ));
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
        nonzero("cache.response_ttl", c.response_ttl)?;
        if c.response_max_entries == 0 {
            return Err(invalid("cache.response_max_entries", "must be at least 1"));
        }
        self.validate_auth_and_limits()?;
        let t = &self.telemetry;
        if let Some(u) = &t.otlp_endpoint {
            if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
                return Err(invalid(
                    "telemetry.otlp_endpoint",
                    "must be an http(s) URL with a host, e.g. http://collector:4318",
                ));
            }
        }
        if t.service_name.trim().is_empty() {
            return Err(invalid("telemetry.service_name", "must not be empty"));
        }
        if !(0.0..=1.0).contains(&t.sample_ratio) {
            return Err(invalid(
                "telemetry.sample_ratio",
                "must be between 0.0 and 1.0",
            ));
        }
        nonzero("telemetry.export_timeout", t.export_timeout)?;
        tracing_subscriber::EnvFilter::try_new(&self.logging.level)
            .map_err(|e| invalid("logging.level", e.to_string()))?;
        Ok(())
    }
}

impl Config {
    /// The upstreams to serve: `[[upstreams]]`, or `[upstream]` alone when that list is empty.
    /// Header values get `${VAR}` replaced from the environment; a missing variable is an error.
    pub fn upstream_specs(&self) -> Result<Vec<UpstreamSpec>, ConfigError> {
        let base = &self.upstream;
        let entries: Vec<SpecParts> = if self.upstreams.is_empty() {
            vec![(
                "upstream".to_string(),
                base.name.as_str(),
                &base.url,
                base.headers.iter().collect(),
                all_agents(),
            )]
        } else {
            self.upstreams
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let mut headers: BTreeMap<&String, &String> = base.headers.iter().collect();
                    headers.extend(e.headers.iter());
                    (
                        format!("upstreams[{i}]"),
                        e.name.as_str(),
                        &e.url,
                        headers.into_iter().collect(),
                        e.agents.clone(),
                    )
                })
                .collect()
        };
        entries
            .into_iter()
            .map(|(key, name, url, headers, agents)| {
                let headers = headers
                    .into_iter()
                    .map(|(k, v)| {
                        let hkey = format!("{key}.headers.{k}");
                        http::HeaderName::from_bytes(k.as_bytes())
                            .map_err(|_| invalid(&hkey, "not a valid header name"))?;
                        let value = expand_env(v).map_err(|r| invalid(&hkey, r))?;
                        http::HeaderValue::from_str(&value)
                            .map_err(|_| invalid(&hkey, "not a valid header value"))?;
                        Ok((k.to_ascii_lowercase(), value))
                    })
                    .collect::<Result<Vec<_>, ConfigError>>()?;
                Ok(UpstreamSpec {
                    name: name.to_string(),
                    url: url.clone(),
                    headers,
                    agents,
                })
            })
            .collect()
    }
}

/// Config key prefix, name, URL, headers and agent patterns of one upstream, before checks.
type SpecParts<'a> = (
    String,
    &'a str,
    &'a Url,
    Vec<(&'a String, &'a String)>,
    Vec<String>,
);

/// `url` as it may be shown to an operator (logs, `check-config`): any userinfo replaced by
/// `***`. Clients never see an upstream's URL at all, only its configured name.
pub fn redacted_url(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Only fails for URLs that cannot have userinfo, which this one has.
    let _ = shown.set_password(None);
    let _ = shown.set_username("***");
    shown.to_string()
}

fn check_upstream_url(key: &str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            key,
            format!("scheme must be http or https, got `{}`", url.scheme()),
        ));
    }
    if url.host().is_none() {
        return Err(invalid(key, "has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(key, "must not have a query or fragment"));
    }
    Ok(())
}

/// `Bearer ${MASTRA_TOKEN}` → `Bearer <value of MASTRA_TOKEN>`.
fn expand_env(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated `${` in value".to_string())?;
        let var = &after[..end];
        let v =
            std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Config {
    /// `[auth]` and `[limits]`: well-formed unique keys, sane rates.
    fn validate_auth_and_limits(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for (i, k) in self.auth.keys.iter().enumerate() {
            let at = |field: &str| format!("auth.keys[{i}].{field}");
            if k.name.trim().is_empty() {
                return Err(invalid(&at("name"), "must not be empty"));
            }
            if !names.insert(k.name.as_str()) {
                return Err(invalid(
                    &at("name"),
                    format!("`{}` names two keys; names must be unique", k.name),
                ));
            }
            if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    &at("sha256"),
                    "must be the 64 hex digits of the key's SHA-256 (see `mastra-gateway hash-key`), not the key",
                ));
            }
            if !hashes.insert(k.sha256.to_ascii_lowercase()) {
                return Err(invalid(&at("sha256"), "the same key is configured twice"));
            }
            if k.resource_id.trim().is_empty() {
                return Err(invalid(&at("resource_id"), "must not be empty"));
            }
            if k.agents.iter().any(|a| a.trim().is_empty()) {
                return Err(invalid(
                    &at("agents"),
                    "entries must be agent ids or globs such as `support-*`",
                ));
            }
            if let Some(r) = &k.rate_limit {
                check_rate(&at("rate_limit"), r)?;
            }
            if k.max_concurrent_streams == Some(0) {
                return Err(invalid(
                    &at("max_concurrent_streams"),
                    "must be at least 1 (leave it unset for no cap)",
                ));
            }
        }
        let l = &self.limits;
        for (key, rate) in [
            ("limits.global", &l.global),
            ("limits.per_key", &l.per_key),
            ("limits.per_agent", &l.per_agent),
        ] {
            if let Some(r) = rate {
                check_rate(key, r)?;
            }
        }
        if l.max_concurrent_streams_per_key == Some(0) {
            return Err(invalid(
                "limits.max_concurrent_streams_per_key",
                "must be at least 1 (leave it unset for no cap)",
            ));
        }
        Ok(())
    }
}

fn check_rate(key: &str, r: &RateLimit) -> Result<(), ConfigError> {
    let count = match (r.per_second, r.per_minute) {
        (Some(n), None) => n,
        (None, Some(n)) => n / 60.0,
        _ => {
            return Err(invalid(
                key,
                "set exactly one of `per_second` and `per_minute`",
            ))
        }
    };
    if !count.is_finite() || count <= 0.0 || 1.0 / count > 86_400.0 * 365.0 || count > 1e9 {
        return Err(invalid(
            key,
            "the rate must be a positive number of requests (at most 1e9 per second, at least one a year)",
        ));
    }
    if r.burst == Some(0) {
        return Err(invalid(&format!("{key}.burst"), "must be at least 1"));
    }
    Ok(())
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
    fn several_upstreams_with_env_headers() {
        std::env::set_var("MG_TEST_TOKEN", "s3cret");
        let c = from_toml_str(
            r#"
            [upstream]
            headers = { "x-team" = "a" }
            [[upstreams]]
            name = "one"
            url = "http://one:4111"
            headers = { authorization = "Bearer ${MG_TEST_TOKEN}" }
            agents = ["support-*"]
            [[upstreams]]
            name = "two"
            url = "http://two:4111"
            "#,
        )
        .unwrap();
        let specs = c.upstream_specs().unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(
            specs[0].headers,
            vec![
                ("authorization".to_string(), "Bearer s3cret".to_string()),
                ("x-team".to_string(), "a".to_string())
            ]
        );
        assert_eq!(specs[0].agents, vec!["support-*"]);
        assert_eq!(specs[1].agents, vec!["*"]);
        let err = from_toml_str(
            "[[upstreams]]\nname = \"a\"\nurl = \"http://a\"\nheaders = { authorization = \"${MG_TEST_NOPE}\" }",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("upstreams[0].headers.authorization"),
            "{err}"
        );
        assert!(err.to_string().contains("MG_TEST_NOPE"), "{err}");
        let err = from_toml_str(
            "[[upstreams]]\nname = \"a\"\nurl = \"http://a\"\n[[upstreams]]\nname = \"a\"\nurl = \"http://b\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("upstreams[1].name"), "{err}");
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

#[cfg(test)]
mod auth_limits_tests {
    use super::*;

    const HASH: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn keys_and_limits_parse() {
        let c = from_toml_str(&format!(
            r#"
[[auth.keys]]
name = "acme"
sha256 = "{HASH}"
resource_id = "tenant-acme"
agents = ["support-*"]
rate_limit = {{ per_second = 5, burst = 10 }}
max_concurrent_streams = 2

[[auth.keys]]
name = "other"
sha256 = "{}"
resource_id = "tenant-other"

[limits]
global = {{ per_second = 1000, burst = 2000 }}
per_key = {{ per_minute = 600 }}
per_agent = {{ per_second = 0.5 }}
max_concurrent_streams_per_key = 4
"#,
            HASH.to_uppercase().replacen("BA", "BB", 1)
        ))
        .unwrap();
        assert_eq!(c.auth.keys.len(), 2);
        assert_eq!(c.auth.keys[0].agents, vec!["support-*"]);
        assert_eq!(c.auth.keys[1].agents, vec!["*"]);
        assert_eq!(c.auth.keys[0].rate_limit.unwrap().per_second, Some(5.0));
        assert_eq!(c.limits.per_agent.unwrap().per_second, Some(0.5));
        assert_eq!(c.limits.max_concurrent_streams_per_key, Some(4));
        assert!(from_toml_str("").unwrap().auth.keys.is_empty());
    }

    #[test]
    fn bad_keys_and_limits_are_refused_by_key() {
        let key = |extra: &str| {
            format!(
                "[[auth.keys]]\nname = \"a\"\nsha256 = \"{HASH}\"\nresource_id = \"r\"\n{extra}"
            )
        };
        let cases = [
            (
                "[[auth.keys]]\nname = \"a\"\nsha256 = \"sk-plain-key\"\nresource_id = \"r\""
                    .to_string(),
                "auth.keys[0].sha256",
            ),
            (
                format!("{}\n{}", key(""), key("")).replacen("name = \"a\"", "name = \"b\"", 1),
                "auth.keys[1].sha256",
            ),
            (
                format!(
                    "{}\n{}",
                    key(""),
                    key("").replace(HASH, &HASH.replace('a', "c"))
                ),
                "auth.keys[1].name",
            ),
            (key("agents = [\"\"]"), "auth.keys[0].agents"),
            (
                key("max_concurrent_streams = 0"),
                "auth.keys[0].max_concurrent_streams",
            ),
            (
                key("rate_limit = { per_second = 1, per_minute = 60 }"),
                "auth.keys[0].rate_limit",
            ),
            (
                "[[auth.keys]]\nname = \"a\"\nsha256 = \"\"\nresource_id = \"\""
                    .replace("sha256 = \"\"", &format!("sha256 = \"{HASH}\"")),
                "auth.keys[0].resource_id",
            ),
            (
                "[limits]\nglobal = { per_second = 0 }".to_string(),
                "limits.global",
            ),
            (
                "[limits]\nper_key = { burst = 3 }".to_string(),
                "limits.per_key",
            ),
            (
                "[limits]\nper_agent = { per_second = 1, burst = 0 }".to_string(),
                "limits.per_agent.burst",
            ),
            (
                "[limits]\nmax_concurrent_streams_per_key = 0".to_string(),
                "limits.max_concurrent_streams_per_key",
            ),
            (
                "[limits]\nper_key = { rps = 1 }".to_string(),
                "limits.per_key",
            ),
            (
                "[[auth.keys]]\nname = \"a\"\nkey = \"x\"".to_string(),
                "auth.keys",
            ),
        ];
        for (toml, want) in cases {
            let err = from_toml_str(&toml).unwrap_err().to_string();
            assert!(err.contains(want), "{toml}\n→ {err}");
        }
    }

    #[test]
    fn keys_come_from_the_environment_too() {
        let c = load(
            Some(Path::new("/dev/null")),
            &CliOverrides::default(),
            vec![
                (
                    "MASTRA_GATEWAY__AUTH__KEYS".to_string(),
                    format!("[{{ name = \"env\", sha256 = \"{HASH}\", resource_id = \"r\" }}]"),
                ),
                (
                    "MASTRA_GATEWAY__LIMITS__PER_KEY".to_string(),
                    "{ per_second = 2 }".to_string(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.auth.keys[0].name, "env");
        assert_eq!(c.limits.per_key.unwrap().per_second, Some(2.0));
    }
}
