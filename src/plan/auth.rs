//! API keys and tenants (DESIGN.md §3).
//!
//! `[[auth.keys]]` hold the SHA-256 of each key, never the key. A request presents its key as
//! `Authorization: Bearer <key>` (or Azure-style `api-key: <key>`); the gateway hashes it and
//! compares the digest with every configured one in constant time. The key found is the
//! caller's tenant: its Mastra `resource_id`, the agents it may use and its limits. Keys are
//! never logged or put in metrics; the key's *name* is.
//!
//! Tenant isolation: with keys configured, a conversation (a Mastra thread) or a stored
//! response (it lives in a thread) is the caller's only when the thread's `resourceId` is the
//! caller's `resource_id`; anything else answers exactly as an unknown id would (404, never a
//! 403 that would confirm it exists). With no keys the gateway is open and checks nothing.

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::AuthConfig;
use crate::error::{ApiError, INVALID_REQUEST};
use crate::mastra::upstreams::glob_match;
use crate::translate::items::ConversationInfo;

/// Azure OpenAI's header, accepted as well as `Authorization: Bearer`.
pub const API_KEY_HEADER: &str = "api-key";

/// One configured key: who the caller is once its key matched.
pub struct Tenant {
    /// The key's name (logs, error messages); never the key.
    pub name: String,
    /// SHA-256 of the key.
    hash: [u8; 32],
    /// The tenant's Mastra resource id: its conversations and stored responses live there.
    pub resource_id: String,
    /// Agent ids or globs (`support-*`) the key may use.
    agents: Vec<String>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("name", &self.name)
            .field("resource_id", &self.resource_id)
            .field("agents", &self.agents)
            .finish_non_exhaustive()
    }
}

impl Tenant {
    pub fn may_use(&self, agent: &str) -> bool {
        self.agents.iter().any(|p| glob_match(p, agent))
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No keys are configured: everyone may do everything.
    Open,
    Tenant(Arc<Tenant>),
}

impl Caller {
    pub fn is_open(&self) -> bool {
        matches!(self, Caller::Open)
    }

    /// The key's name, for logs.
    pub fn name(&self) -> Option<&str> {
        match self {
            Caller::Open => None,
            Caller::Tenant(t) => Some(&t.name),
        }
    }

    /// The Mastra resource the caller's conversations belong to (`None` when open).
    pub fn resource_id(&self) -> Option<&str> {
        match self {
            Caller::Open => None,
            Caller::Tenant(t) => Some(&t.resource_id),
        }
    }

    pub fn may_use(&self, agent: &str) -> bool {
        match self {
            Caller::Open => true,
            Caller::Tenant(t) => t.may_use(agent),
        }
    }

    /// Whether the caller may see this thread: always when open, else when the thread belongs
    /// to the caller's resource.
    pub fn owns(&self, info: &ConversationInfo) -> bool {
        match self {
            Caller::Open => true,
            Caller::Tenant(t) => info.resource_id.as_deref() == Some(t.resource_id.as_str()),
        }
    }
}

/// The configured keys. Empty: the gateway is open.
pub struct Keyring {
    keys: Vec<Arc<Tenant>>,
}

impl Keyring {
    /// From a validated `[auth]` (a malformed hash cannot get here; it would be skipped).
    pub fn new(cfg: &AuthConfig) -> Self {
        let keys = cfg
            .keys
            .iter()
            .filter_map(|k| {
                Some(Arc::new(Tenant {
                    name: k.name.clone(),
                    hash: parse_sha256(&k.sha256)?,
                    resource_id: k.resource_id.clone(),
                    agents: k.agents.clone(),
                }))
            })
            .collect();
        Self { keys }
    }

    pub fn is_open(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The caller of a request with these headers. Missing or unknown key → 401
    /// `invalid_api_key`. Every configured hash is compared, in constant time, whatever the
    /// presented key.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if self.keys.is_empty() {
            return Ok(Caller::Open);
        }
        let Some(key) = presented_key(headers) else {
            return Err(missing_key());
        };
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, k) in self.keys.iter().enumerate() {
            let eq = k.hash.ct_eq(&digest);
            index.conditional_assign(&(i as u32), eq);
            found |= eq;
        }
        if bool::from(found) {
            Ok(Caller::Tenant(self.keys[index as usize].clone()))
        } else {
            Err(incorrect_key())
        }
    }
}

/// The key from `Authorization: Bearer <key>`, else from `api-key: <key>`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().ok()?.trim();
        let (scheme, token) = v.split_once(' ')?;
        let token = token.trim();
        return (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token);
    }
    let v = headers.get(API_KEY_HEADER)?.to_str().ok()?.trim();
    (!v.is_empty()).then_some(v)
}

pub fn missing_key() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        INVALID_REQUEST,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    )
    .with_code("invalid_api_key")
}

pub fn incorrect_key() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        INVALID_REQUEST,
        "Incorrect API key provided.",
    )
    .with_code("invalid_api_key")
}

/// Lowercase hex SHA-256 of a key, as `[[auth.keys]].sha256` wants it
/// (`mastra-gateway hash-key`). Surrounding whitespace is not part of the key.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.trim().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits (either case) → 32 bytes.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// The warning logged when no key is configured.
pub const OPEN_WARNING: &str = "NO API KEYS CONFIGURED: the gateway is OPEN. Anyone who can reach it can run every agent and read every conversation and stored response. Add [[auth.keys]] entries (hash a key with `mastra-gateway hash-key`) to require keys.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiKeyConfig, AuthConfig};
    use crate::plan::limits::RateRecord;
    use crate::plan::Access;

    const KEY_A: &str = "sk-tenant-a";
    const KEY_B: &str = "sk-tenant-b";

    fn ring() -> Keyring {
        let key = |name: &str, key: &str, agents: &[&str]| ApiKeyConfig {
            name: name.into(),
            sha256: hash_key(key).to_uppercase(),
            resource_id: format!("res-{name}"),
            agents: agents.iter().map(|s| s.to_string()).collect(),
            rate_limit: None,
            max_concurrent_streams: None,
        };
        Keyring::new(&AuthConfig {
            keys: vec![
                key("a", KEY_A, &["*"]),
                key("b", KEY_B, &["echo-*", "helper"]),
            ],
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn hash_is_sha256_hex() {
        // printf 'abc' | sha256sum
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash_key("abc\n"), hash_key("abc"));
        assert_eq!(parse_sha256(&hash_key("abc")).unwrap()[0], 0xba);
        assert!(parse_sha256("xyz").is_none());
        assert!(parse_sha256(&"g".repeat(64)).is_none());
    }

    #[test]
    fn bearer_and_api_key_headers_find_the_tenant() {
        let ring = ring();
        let c = ring
            .authenticate(&headers(&[("authorization", "Bearer sk-tenant-b")]))
            .unwrap();
        assert_eq!(c.name(), Some("b"));
        assert_eq!(c.resource_id(), Some("res-b"));
        let c = ring
            .authenticate(&headers(&[("authorization", "bearer   sk-tenant-a ")]))
            .unwrap();
        assert_eq!(c.name(), Some("a"));
        let c = ring
            .authenticate(&headers(&[("api-key", "sk-tenant-a")]))
            .unwrap();
        assert_eq!(c.name(), Some("a"));
    }

    #[test]
    fn missing_or_wrong_key_is_401_invalid_api_key() {
        let ring = ring();
        for h in [
            headers(&[]),
            headers(&[("authorization", "Bearer")]),
            headers(&[("authorization", "Basic sk-tenant-a")]),
            headers(&[("api-key", "")]),
        ] {
            let e = ring.authenticate(&h).unwrap_err();
            assert_eq!(e, missing_key());
        }
        for h in [
            headers(&[("authorization", "Bearer sk-tenant-c")]),
            headers(&[("authorization", "Bearer sk-tenant-a2")]),
            headers(&[("api-key", "SK-TENANT-A")]),
        ] {
            let e = ring.authenticate(&h).unwrap_err();
            assert_eq!(e.status, StatusCode::UNAUTHORIZED);
            assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
            assert_eq!(e.kind, "invalid_request_error");
            assert!(!e.message.contains("sk-tenant"), "{}", e.message);
        }
    }

    #[test]
    fn no_keys_is_open() {
        let ring = Keyring::new(&AuthConfig::default());
        assert!(ring.is_open());
        let c = ring.authenticate(&headers(&[])).unwrap();
        assert!(matches!(c, Caller::Open));
        assert!(c.may_use("anything"));
    }

    #[test]
    fn agents_are_globs_and_refusal_looks_unknown() {
        let ring = ring();
        let b = ring.authenticate(&headers(&[("api-key", KEY_B)])).unwrap();
        assert!(b.may_use("echo-agent"));
        assert!(b.may_use("helper"));
        assert!(!b.may_use("support-agent"));
        let rate = RateRecord::default();
        let access = Access {
            caller: b,
            rate: &rate,
        };
        assert_eq!(
            access.check_agent("support-agent", "gpt-4o").unwrap_err(),
            ApiError::model_not_found("gpt-4o")
        );
    }

    #[test]
    fn ownership_is_the_threads_resource() {
        let ring = ring();
        let a = ring.authenticate(&headers(&[("api-key", KEY_A)])).unwrap();
        let info = |resource: Option<&str>| ConversationInfo {
            id: "conv_1".into(),
            agent: None,
            resource_id: resource.map(str::to_string),
            created_at: 0,
            metadata: Default::default(),
            upstream: 0,
        };
        assert!(a.owns(&info(Some("res-a"))));
        assert!(!a.owns(&info(Some("res-b"))));
        assert!(!a.owns(&info(None)));
        assert!(Caller::Open.owns(&info(None)));
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let ring = ring();
        let text = format!("{:?}", ring.keys[0]);
        assert!(!text.contains(&hash_key(KEY_A)[..16]), "{text}");
    }
}
