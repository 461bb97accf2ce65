//! Rate limits (DESIGN.md §3): governor's GCRA per API key, per agent and a global ceiling, plus
//! a cap on the concurrent streams of each key. Per-replica: each gateway process counts its
//! own traffic.
//!
//! A request is checked against its key's limiter and the global one before its handler runs,
//! and against its agent's limiter once `POST /v1/responses` has resolved the agent. A refusal
//! is a 429 with OpenAI's envelope (`type: "requests"`, `code: "rate_limit_exceeded"`) and
//! `retry-after` (whole seconds, rounded up) / `retry-after-ms`, which the OpenAI SDKs wait
//! for before they retry. Every answer carries `x-ratelimit-limit-requests`,
//! `x-ratelimit-remaining-requests` and `x-ratelimit-reset-requests` for the tightest limiter
//! that applied (the one with the fewest requests left). A request refused by one limiter
//! still counts against the limiters checked before it (key, then global, then agent).
//!
//! The limiters live in the [`crate::plan::AppState`] snapshot; a config reload keeps each
//! limiter whose quota did not change (so a SIGHUP does not hand out a fresh burst), and the
//! open-stream counts of every key that still exists.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::config::{Config, RateLimit};
use crate::error::ApiError;
use crate::plan::auth::Caller;

pub const RATE_LIMITED_TOTAL: &str = "mastra_gateway_rate_limited_total";

/// `error.type` of a 429, as OpenAI sends it for request-rate limits.
pub const RATE_LIMIT_TYPE: &str = "requests";
pub const RATE_LIMIT_CODE: &str = "rate_limit_exceeded";

/// Suggested wait when the concurrent-stream cap refuses (a stream's end cannot be predicted).
const STREAM_RETRY: Duration = Duration::from_secs(1);

type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;
type Instant = <DefaultClock as Clock>::Instant;

/// Which limit refused (the `limit` label of the metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Global,
    Key,
    Agent,
    Streams,
}

impl LimitKind {
    pub fn label(self) -> &'static str {
        match self {
            LimitKind::Global => "global",
            LimitKind::Key => "key",
            LimitKind::Agent => "agent",
            LimitKind::Streams => "streams",
        }
    }
}

/// `rate` as a governor quota: one request every `1/rate`, bursts of `burst` (default: the
/// rate per unit, rounded up). The config was validated, so the numbers are sane.
pub fn quota(rate: &RateLimit) -> Quota {
    let (count, unit) = match (rate.per_second, rate.per_minute) {
        (Some(n), _) => (n, 1.0),
        (None, Some(n)) => (n, 60.0),
        (None, None) => (1.0, 1.0),
    };
    let period = Duration::from_secs_f64(unit / count).max(Duration::from_nanos(1));
    let burst = rate
        .burst
        .unwrap_or_else(|| count.ceil().clamp(1.0, u32::MAX as f64) as u32);
    Quota::with_period(period)
        .expect("non-zero period")
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"))
}

struct Direct {
    spec: RateLimit,
    limiter: DirectLimiter,
}

impl Direct {
    fn new(spec: RateLimit) -> Arc<Self> {
        Arc::new(Self {
            spec,
            limiter: RateLimiter::direct(quota(&spec)).with_middleware(),
        })
    }

    /// The previous limiter when its quota is the same, else a new one.
    fn reuse(spec: RateLimit, previous: Option<&Arc<Self>>) -> Arc<Self> {
        match previous {
            Some(p) if p.spec == spec => p.clone(),
            _ => Self::new(spec),
        }
    }
}

struct Keyed {
    spec: RateLimit,
    limiter: KeyedLimiter,
}

/// The limits of one API key.
#[derive(Clone)]
struct KeyLimits {
    rate: Option<Arc<Direct>>,
    max_streams: Option<u32>,
    /// Streams open now; shared across reloads.
    open_streams: Arc<AtomicU32>,
}

/// Every limiter of one config snapshot.
pub struct Limits {
    global: Option<Arc<Direct>>,
    agents: Option<Arc<Keyed>>,
    /// By key name.
    keys: HashMap<String, KeyLimits>,
    clock: DefaultClock,
}

impl Limits {
    /// The limiters of `config`, reusing those of `previous` (the config being replaced) whose
    /// quota is unchanged.
    pub fn new(config: &Config, previous: Option<&Limits>) -> Self {
        let l = &config.limits;
        metrics::describe_counter!(
            RATE_LIMITED_TOTAL,
            "Requests refused with 429, by the limit that refused them (global, key, agent, streams)."
        );
        let global = l
            .global
            .map(|spec| Direct::reuse(spec, previous.and_then(|p| p.global.as_ref())));
        let agents = l
            .per_agent
            .map(|spec| match previous.and_then(|p| p.agents.as_ref()) {
                Some(p) if p.spec == spec => p.clone(),
                _ => Arc::new(Keyed {
                    spec,
                    limiter: RateLimiter::keyed(quota(&spec)).with_middleware(),
                }),
            });
        let keys = config
            .auth
            .keys
            .iter()
            .map(|k| {
                let before = previous.and_then(|p| p.keys.get(&k.name));
                let rate = k
                    .rate_limit
                    .or(l.per_key)
                    .map(|spec| Direct::reuse(spec, before.and_then(|b| b.rate.as_ref())));
                let limits = KeyLimits {
                    rate,
                    max_streams: k
                        .max_concurrent_streams
                        .or(l.max_concurrent_streams_per_key),
                    open_streams: before.map(|b| b.open_streams.clone()).unwrap_or_default(),
                };
                (k.name.clone(), limits)
            })
            .collect();
        Self {
            global,
            agents,
            keys,
            clock: DefaultClock::default(),
        }
    }

    fn key_limits(&self, caller: &Caller) -> Option<&KeyLimits> {
        match caller {
            Caller::Open => None,
            Caller::Tenant(t) => self.keys.get(&t.name),
        }
    }

    /// Before the handler: the caller's key limiter, then the global one.
    pub fn check_request(&self, caller: &Caller, record: &RateRecord) -> Result<(), ApiError> {
        if let Some(rate) = self.key_limits(caller).and_then(|k| k.rate.as_ref()) {
            let outcome = rate.limiter.check();
            self.settle(outcome, LimitKind::Key, None, record)?;
        }
        if let Some(global) = &self.global {
            let outcome = global.limiter.check();
            self.settle(outcome, LimitKind::Global, None, record)?;
        }
        Ok(())
    }

    /// Once the agent of `POST /v1/responses` is known: its limiter.
    pub fn check_agent(&self, agent: &str, record: &RateRecord) -> Result<(), ApiError> {
        if let Some(agents) = &self.agents {
            let outcome = agents.limiter.check_key(&agent.to_string());
            self.settle(outcome, LimitKind::Agent, Some(agent), record)?;
        }
        Ok(())
    }

    /// A slot for one more stream of the caller's key, held until the stream ends; 429 when
    /// the key has its maximum open. `None` when no cap applies.
    pub fn open_stream(
        &self,
        caller: &Caller,
        record: &RateRecord,
    ) -> Result<Option<StreamPermit>, ApiError> {
        let Some(k) = self.key_limits(caller) else {
            return Ok(None);
        };
        let Some(max) = k.max_streams else {
            return Ok(None);
        };
        let admitted = k
            .open_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            return Ok(Some(StreamPermit(k.open_streams.clone())));
        }
        record.refuse(None, STREAM_RETRY);
        count_refusal(LimitKind::Streams);
        Err(rate_limited(format!(
            "Too many concurrent streams on this API key: at most {max} may be open at once. Please try again when one has finished."
        )))
    }

    /// Records a limiter's decision; a refusal becomes the 429.
    fn settle(
        &self,
        outcome: Result<StateSnapshot, NotUntil<Instant>>,
        kind: LimitKind,
        agent: Option<&str>,
        record: &RateRecord,
    ) -> Result<(), ApiError> {
        match outcome {
            Ok(state) => {
                record.observe(Snapshot::from_state(&state));
                Ok(())
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let q = not_until.quota();
                let burst = q.burst_size().get();
                let snapshot = Snapshot {
                    limit: burst,
                    remaining: 0,
                    // Back to a full burst: the wait for one request, plus the rest of it.
                    reset: wait + q.replenish_interval() * (burst - 1),
                };
                record.refuse(Some(snapshot), wait);
                count_refusal(kind);
                let whose = match (kind, agent) {
                    (LimitKind::Key, _) => "on this API key".to_string(),
                    (LimitKind::Agent, Some(a)) => format!("for model '{a}'"),
                    _ => "on this gateway".to_string(),
                };
                Err(rate_limited(format!(
                    "Rate limit reached for requests {whose}: Limit {burst}, one more every {}. Please try again in {}.",
                    format_reset(q.replenish_interval()),
                    format_reset(wait.max(Duration::from_millis(1)))
                )))
            }
        }
    }
}

fn count_refusal(kind: LimitKind) {
    metrics::counter!(RATE_LIMITED_TOTAL, "limit" => kind.label()).increment(1);
}

/// OpenAI's 429 for request-rate limits.
pub fn rate_limited(message: String) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, RATE_LIMIT_TYPE, message)
        .with_code(RATE_LIMIT_CODE)
}

/// A slot among the key's concurrent streams, released when dropped (with the stream body).
#[derive(Debug)]
pub struct StreamPermit(Arc<AtomicU32>);

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One limiter's state after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Requests allowed in one burst.
    pub limit: u32,
    /// Requests that could be made right now.
    pub remaining: u32,
    /// Until the limiter is back to a full burst (an upper bound, within one replenish period).
    pub reset: Duration,
}

impl Snapshot {
    fn from_state(state: &StateSnapshot) -> Self {
        let q = state.quota();
        let limit = q.burst_size().get();
        let remaining = state.remaining_burst_capacity().min(limit);
        Self {
            limit,
            remaining,
            reset: q.replenish_interval() * (limit - remaining),
        }
    }

    /// Fewer requests left is tighter; then a smaller limit; then a longer reset.
    fn tighter_than(&self, other: &Snapshot) -> bool {
        (self.remaining, self.limit, std::cmp::Reverse(self.reset))
            < (other.remaining, other.limit, std::cmp::Reverse(other.reset))
    }
}

/// What the limiters said about one request; rendered into its response headers.
#[derive(Debug, Default)]
pub struct RateRecord(Mutex<RecordInner>);

#[derive(Debug, Default)]
struct RecordInner {
    tightest: Option<Snapshot>,
    retry_after: Option<Duration>,
}

impl RateRecord {
    fn inner(&self) -> std::sync::MutexGuard<'_, RecordInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn observe(&self, s: Snapshot) {
        let mut inner = self.inner();
        if inner.tightest.is_none_or(|t| s.tighter_than(&t)) {
            inner.tightest = Some(s);
        }
    }

    /// A refusal: the refusing limiter's state (when it is a rate limiter) and the wait.
    pub fn refuse(&self, s: Option<Snapshot>, wait: Duration) {
        let mut inner = self.inner();
        if let Some(s) = s {
            inner.tightest = Some(s);
        }
        inner.retry_after = Some(wait);
    }

    pub fn tightest(&self) -> Option<Snapshot> {
        self.inner().tightest
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.inner().retry_after
    }

    /// `x-ratelimit-*` for the tightest limiter, and on a refusal `retry-after` (seconds,
    /// rounded up) and `retry-after-ms`. Nothing when no limiter applied.
    pub fn apply(&self, headers: &mut HeaderMap) {
        let inner = self.inner();
        if let Some(s) = inner.tightest {
            headers.insert("x-ratelimit-limit-requests", HeaderValue::from(s.limit));
            headers.insert(
                "x-ratelimit-remaining-requests",
                HeaderValue::from(s.remaining),
            );
            if let Ok(v) = HeaderValue::from_str(&format_reset(s.reset)) {
                headers.insert("x-ratelimit-reset-requests", v);
            }
        }
        if let Some(wait) = inner.retry_after {
            let ms = wait.as_nanos().div_ceil(1_000_000).max(1);
            let secs = wait.as_nanos().div_ceil(1_000_000_000).max(1);
            headers.insert("retry-after", HeaderValue::from(secs as u64));
            headers.insert("retry-after-ms", HeaderValue::from(ms as u64));
        }
    }
}

/// A duration as OpenAI writes `x-ratelimit-reset-*`: `0s`, `6ms`, `1s`, `1.5s`, `6m0s`,
/// `1h2m3s` (milliseconds rounded up).
pub fn format_reset(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let secs = if rest % 1000 == 0 {
        format!("{}s", rest / 1000)
    } else {
        let frac = format!("{:03}", rest % 1000);
        format!("{}.{}s", rest / 1000, frac.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_toml_str;
    use crate::plan::auth::{hash_key, Keyring};

    fn rate(per_second: Option<f64>, per_minute: Option<f64>, burst: Option<u32>) -> RateLimit {
        RateLimit {
            per_second,
            per_minute,
            burst,
        }
    }

    fn config(extra: &str) -> Config {
        let toml = format!(
            r#"
[[auth.keys]]
name = "a"
sha256 = "{}"
resource_id = "ra"

[[auth.keys]]
name = "b"
sha256 = "{}"
resource_id = "rb"
rate_limit = {{ per_minute = 1, burst = 3 }}
max_concurrent_streams = 1
{extra}
"#,
            hash_key("ka"),
            hash_key("kb")
        );
        from_toml_str(&toml).unwrap()
    }

    fn callers(cfg: &Config) -> (Caller, Caller) {
        let ring = Keyring::new(&cfg.auth);
        let get = |k: &str| {
            let mut h = HeaderMap::new();
            h.insert("api-key", k.parse().unwrap());
            ring.authenticate(&h).unwrap()
        };
        (get("ka"), get("kb"))
    }

    #[test]
    fn quotas_from_config() {
        let q = quota(&rate(Some(10.0), None, None));
        assert_eq!(q.replenish_interval(), Duration::from_millis(100));
        assert_eq!(q.burst_size().get(), 10);
        let q = quota(&rate(None, Some(30.0), Some(1)));
        assert_eq!(q.replenish_interval(), Duration::from_secs(2));
        assert_eq!(q.burst_size().get(), 1);
        let q = quota(&rate(Some(0.5), None, None));
        assert_eq!(q.replenish_interval(), Duration::from_secs(2));
        assert_eq!(q.burst_size().get(), 1);
    }

    #[test]
    fn reset_durations_read_like_openais() {
        assert_eq!(format_reset(Duration::ZERO), "0s");
        assert_eq!(format_reset(Duration::from_micros(5_200)), "6ms");
        assert_eq!(format_reset(Duration::from_secs(1)), "1s");
        assert_eq!(format_reset(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_reset(Duration::from_millis(1250)), "1.25s");
        assert_eq!(format_reset(Duration::from_secs(360)), "6m0s");
        assert_eq!(format_reset(Duration::from_secs(3723)), "1h2m3s");
    }

    #[test]
    fn per_key_override_and_default() {
        let cfg = config("[limits]\nper_key = { per_minute = 1, burst = 2 }");
        let limits = Limits::new(&cfg, None);
        let (a, b) = callers(&cfg);
        // a: the [limits].per_key default, burst 2.
        for left in [1, 0] {
            let r = RateRecord::default();
            limits.check_request(&a, &r).unwrap();
            assert_eq!(
                r.tightest().map(|s| (s.limit, s.remaining)),
                Some((2, left))
            );
        }
        let r = RateRecord::default();
        let e = limits.check_request(&a, &r).unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.kind, "requests");
        assert_eq!(e.code.as_deref(), Some("rate_limit_exceeded"));
        assert!(e.message.contains("on this API key"), "{}", e.message);
        let wait = r.retry_after().unwrap();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        let s = r.tightest().unwrap();
        assert_eq!((s.limit, s.remaining), (2, 0));
        assert!(s.reset > Duration::from_secs(115), "{:?}", s.reset);
        let mut h = HeaderMap::new();
        r.apply(&mut h);
        assert_eq!(h["retry-after"], "60");
        let ms: u64 = h["retry-after-ms"].to_str().unwrap().parse().unwrap();
        assert!((55_000..=60_000).contains(&ms), "{ms}");
        assert_eq!(h["x-ratelimit-limit-requests"], "2");
        assert_eq!(h["x-ratelimit-remaining-requests"], "0");
        // b: its own override, burst 3, untouched by a's traffic.
        for _ in 0..3 {
            limits.check_request(&b, &RateRecord::default()).unwrap();
        }
        assert!(limits.check_request(&b, &RateRecord::default()).is_err());
        // Open callers have no key limit.
        limits
            .check_request(&Caller::Open, &RateRecord::default())
            .unwrap();
    }

    #[test]
    fn global_ceiling_spans_keys_and_tightest_wins_the_headers() {
        let cfg = config(
            "[limits]\nglobal = { per_minute = 1, burst = 4 }\nper_key = { per_minute = 1, burst = 10 }",
        );
        let limits = Limits::new(&cfg, None);
        let (a, b) = callers(&cfg);
        let r = RateRecord::default();
        limits.check_request(&a, &r).unwrap();
        // key a: 9 of 10 left; global: 3 of 4 left → global is tighter.
        assert_eq!(r.tightest().map(|s| (s.limit, s.remaining)), Some((4, 3)));
        let r = RateRecord::default();
        limits.check_request(&b, &r).unwrap();
        // key b (override burst 3): 2 left; global: 2 left → equal remaining, smaller limit.
        assert_eq!(r.tightest().map(|s| (s.limit, s.remaining)), Some((3, 2)));
        limits.check_request(&a, &RateRecord::default()).unwrap();
        limits.check_request(&a, &RateRecord::default()).unwrap();
        let r = RateRecord::default();
        let e = limits.check_request(&b, &r).unwrap_err();
        assert!(e.message.contains("on this gateway"), "{}", e.message);
        let e = limits
            .check_request(&Caller::Open, &RateRecord::default())
            .unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn agents_are_limited_separately() {
        let cfg = config("[limits]\nper_agent = { per_minute = 1, burst = 1 }");
        let limits = Limits::new(&cfg, None);
        limits
            .check_agent("support-agent", &RateRecord::default())
            .unwrap();
        limits
            .check_agent("echo-agent", &RateRecord::default())
            .unwrap();
        let e = limits
            .check_agent("support-agent", &RateRecord::default())
            .unwrap_err();
        assert!(e.message.contains("'support-agent'"), "{}", e.message);
    }

    #[test]
    fn nothing_configured_means_no_headers() {
        let cfg = config("");
        let limits = Limits::new(&cfg, None);
        let (a, _) = callers(&cfg);
        let r = RateRecord::default();
        for _ in 0..100 {
            limits.check_request(&a, &r).unwrap();
            limits.check_agent("x", &r).unwrap();
            assert!(limits.open_stream(&a, &r).unwrap().is_none());
        }
        let mut h = HeaderMap::new();
        r.apply(&mut h);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn concurrent_streams_are_capped_per_key() {
        let cfg = config("[limits]\nmax_concurrent_streams_per_key = 2");
        let limits = Limits::new(&cfg, None);
        let (a, b) = callers(&cfg);
        let r = RateRecord::default();
        let a1 = limits.open_stream(&a, &r).unwrap().unwrap();
        let _a2 = limits.open_stream(&a, &r).unwrap().unwrap();
        // b's own cap is 1.
        let b1 = limits.open_stream(&b, &r).unwrap().unwrap();
        let r = RateRecord::default();
        let e = limits.open_stream(&b, &r).unwrap_err();
        assert!(e.message.contains("at most 1"), "{}", e.message);
        assert_eq!(r.retry_after(), Some(Duration::from_secs(1)));
        assert!(limits.open_stream(&a, &RateRecord::default()).is_err());
        drop(a1);
        let _a3 = limits
            .open_stream(&a, &RateRecord::default())
            .unwrap()
            .unwrap();
        drop(b1);
        limits
            .open_stream(&b, &RateRecord::default())
            .unwrap()
            .unwrap();
        assert!(limits
            .open_stream(&Caller::Open, &RateRecord::default())
            .unwrap()
            .is_none());
    }

    #[test]
    fn reload_keeps_unchanged_limiters_and_open_streams() {
        let cfg = config("[limits]\nper_key = { per_minute = 1, burst = 1 }");
        let before = Limits::new(&cfg, None);
        let (a, b) = callers(&cfg);
        before.check_request(&a, &RateRecord::default()).unwrap();
        let permit = before.open_stream(&b, &RateRecord::default()).unwrap();
        assert!(permit.is_some());
        // Same config: a is still out of budget, b still has its stream open.
        let same = Limits::new(&cfg, Some(&before));
        assert!(same.check_request(&a, &RateRecord::default()).is_err());
        assert!(same.open_stream(&b, &RateRecord::default()).is_err());
        // Changed quota: a fresh limiter; the stream count survives.
        let cfg2 = config("[limits]\nper_key = { per_minute = 2, burst = 1 }");
        let changed = Limits::new(&cfg2, Some(&same));
        changed.check_request(&a, &RateRecord::default()).unwrap();
        assert!(changed.open_stream(&b, &RateRecord::default()).is_err());
        drop(permit);
        assert!(changed
            .open_stream(&b, &RateRecord::default())
            .unwrap()
            .is_some());
    }

    #[test]
    fn tightest_is_fewest_remaining() {
        let r = RateRecord::default();
        let s = |limit, remaining, ms| Snapshot {
            limit,
            remaining,
            reset: Duration::from_millis(ms),
        };
        r.observe(s(100, 50, 10));
        r.observe(s(10, 9, 10));
        assert_eq!(r.tightest(), Some(s(10, 9, 10)));
        r.observe(s(1000, 20, 10));
        assert_eq!(r.tightest(), Some(s(10, 9, 10)));
        r.observe(s(9, 9, 10));
        assert_eq!(r.tightest(), Some(s(9, 9, 10)));
    }
}
