//! The deployment assets against the gateway itself:
//! - every `mastra_gateway_*` metric that the Grafana dashboard (deploy/grafana/*.json) and the
//!   Prometheus rules (deploy/prometheus/*.yaml) name is one the gateway exports, with the labels
//!   they select on, after traffic that touches every metric (plain and streamed requests, a
//!   rate limit, cache hits, upstream health); and the dashboard shows every exported metric;
//! - `mastra-gateway healthcheck` (the image's HEALTHCHECK) exits 0 on the admin `/healthz`
//!   and 1 otherwise.
//!
//! deploy/check.sh covers the rest (Kubernetes, compose, Dockerfile, promtool).

mod ops_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use mastra_gateway::config::from_toml_str;
use mastra_gateway::http::server::Gateway;
use ops_support::{client, happy, parse_sse, FakeMastra};
use serde_json::{json, Value};

const PREFIX: &str = "mastra_gateway_";

/// Labels Prometheus adds when it scrapes (target labels), and the histogram bucket label.
const SCRAPE_LABELS: &[&str] = &[
    "job",
    "instance",
    "namespace",
    "pod",
    "container",
    "service",
    "endpoint",
    "le",
];

async fn gateway(upstream: &str, extra: &str) -> Gateway {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[upstream]
name = "demo"
url = "{upstream}"
response_timeout = "5s"

[models.aliases]
"gpt-4o" = "support-agent"
{extra}
"#
    );
    Gateway::start(from_toml_str(&toml).expect("valid test config"))
        .await
        .expect("gateway starts")
}

async fn post(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(format!("http://{}/v1/responses", gw.addr))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A metric family of the exposition: its type and the label names of its samples.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    labels: BTreeSet<String>,
}

/// `# TYPE` lines and samples of a Prometheus text exposition, by family (`_bucket`, `_sum` and
/// `_count` samples of a histogram or summary belong to its family).
fn families(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                out.entry(name.to_string()).or_default().kind = kind.to_string();
            }
        }
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        let family = family_of(name, &out).unwrap_or(name).to_string();
        let entry = out.entry(family).or_default();
        if line[name_end..].starts_with('{') {
            let close = line.rfind('}').expect("closed label set");
            for label in matcher_labels(&line[name_end + 1..close]) {
                entry.labels.insert(label);
            }
        }
    }
    out
}

/// The family a (sample) name belongs to: itself, or the histogram/summary it is a part of.
fn family_of<'a>(name: &'a str, families: &BTreeMap<String, Family>) -> Option<&'a str> {
    if families.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        let kind = &families.get(base)?.kind;
        (kind == "histogram" || kind == "summary").then_some(base)
    })
}

/// The label names of a selector's or sample's `{...}` content (quotes respected).
fn matcher_labels(inner: &str) -> Vec<String> {
    let mut labels = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut current = String::new();
    let mut taking_name = true;
    for c in inner.chars() {
        if in_quotes {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_quotes = false,
                _ => escaped = false,
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => {
                taking_name = true;
                current.clear();
            }
            '=' | '!' | '~' if taking_name => {
                if !current.trim().is_empty() {
                    labels.push(current.trim().to_string());
                }
                taking_name = false;
            }
            c if taking_name => current.push(c),
            _ => {}
        }
    }
    labels
}

/// Every `mastra_gateway_*` name in `text`, with the label names of the selector that follows
/// it (if any).
fn metric_refs(text: &str) -> Vec<(String, Vec<String>)> {
    let mut refs = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        // A name starts at a non-identifier character.
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..len];
        let after = &tail[len..];
        let labels = if after.starts_with('{') {
            after
                .find('}')
                .map(|close| matcher_labels(&after[1..close]))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if !preceded_by_ident {
            refs.push((name.to_string(), labels));
        }
        rest = &tail[len..];
    }
    refs
}

/// The labels of every `by (...)` / `without (...)` clause in `expr`.
fn grouping_labels(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for keyword in ["by", "without"] {
        let mut rest = expr;
        while let Some(at) = rest.find(keyword) {
            let before_ok = rest[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let after = rest[at + keyword.len()..].trim_start();
            if before_ok && after.starts_with('(') {
                if let Some(close) = after.find(')') {
                    out.extend(
                        after[1..close]
                            .split(',')
                            .map(|l| l.trim().to_string())
                            .filter(|l| !l.is_empty()),
                    );
                }
            }
            rest = &rest[at + keyword.len()..];
        }
    }
    out
}

/// The PromQL expressions of an asset: every string of the dashboard JSON; in a YAML rule or
/// rule-test file, each `expr:`/`series:` entry up to the next one.
fn expressions(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "json") {
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let mut strings = Vec::new();
        collect_strings(&value, &mut strings);
        strings
    } else {
        let mut exprs = vec![String::new()];
        for line in text.lines() {
            let key = line.trim_start().trim_start_matches("- ");
            if key.starts_with("expr:") || key.starts_with("series:") {
                exprs.push(String::new());
            }
            let last = exprs.last_mut().unwrap();
            // Comments and annotation prose are not PromQL.
            if !line.trim_start().starts_with('#') {
                last.push_str(line);
                last.push('\n');
            }
        }
        exprs
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn deploy_files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// Checks the metric names (and selector/grouping labels) of `files` against the exposition;
/// returns the families named, and pushes each problem to `problems`.
fn check_assets(
    files: &[PathBuf],
    exported: &BTreeMap<String, Family>,
    problems: &mut Vec<String>,
) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for file in files {
        let shown = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(file)
            .display()
            .to_string();
        for expr in expressions(file) {
            let refs = metric_refs(&expr);
            let mut fams_in_expr = Vec::new();
            for (name, labels) in &refs {
                let Some(family) = family_of(name, exported) else {
                    problems.push(format!(
                        "{shown}: `{name}` is not a metric the gateway exports"
                    ));
                    continue;
                };
                named.insert(family.to_string());
                let fam = &exported[family];
                fams_in_expr.push(fam);
                for label in labels {
                    if !fam.labels.contains(label) && !SCRAPE_LABELS.contains(&label.as_str()) {
                        problems.push(format!(
                            "{shown}: `{name}` has no label `{label}` (it has {:?})",
                            fam.labels
                        ));
                    }
                }
            }
            if fams_in_expr.is_empty() {
                continue;
            }
            for label in grouping_labels(&expr) {
                let known = SCRAPE_LABELS.contains(&label.as_str())
                    || fams_in_expr.iter().any(|f| f.labels.contains(&label));
                if !known {
                    problems.push(format!(
                        "{shown}: groups by `{label}`, a label none of {:?} has",
                        refs.iter().map(|r| &r.0).collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    named
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_name_only_exported_metrics() {
    let fake = FakeMastra::start(happy).await;
    let gw = gateway(&fake.url, "").await;
    // A second gateway (same process, same metrics registry) with a limit of one request.
    let limited = gateway(
        &fake.url,
        "[limits]\nglobal = { per_minute = 1, burst = 1 }\n",
    )
    .await;

    // Plain requests (the second one hits the agents cache), a model list, a stream.
    for model in ["support-agent", "gpt-4o"] {
        let resp = post(&gw, json!({"model": model, "input": "hi"})).await;
        assert_eq!(resp.status().as_u16(), 200);
    }
    let models = client()
        .get(format!("http://{}/v1/models", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status().as_u16(), 200);
    let resp = post(
        &gw,
        json!({"model": "echo-agent", "input": "hi", "stream": true}),
    )
    .await;
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    // The rate limit refuses the second request.
    let statuses = [
        post(&limited, json!({"model": "echo-agent", "input": "a"}))
            .await
            .status()
            .as_u16(),
        post(&limited, json!({"model": "echo-agent", "input": "b"}))
            .await
            .status()
            .as_u16(),
    ];
    assert_eq!(statuses, [200, 429]);
    // An upstream fault: a gateway whose upstream refuses connections.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = gateway(&format!("http://127.0.0.1:{closed}"), "").await;
    let resp = post(&down, json!({"model": "echo-agent", "input": "hi"})).await;
    assert_eq!(resp.status().as_u16(), 502);

    let text = client()
        .get(format!("http://{}/metrics", gw.admin_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: BTreeMap<String, Family> = families(&text)
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    // The traffic above touched every metric the README documents.
    for family in [
        "mastra_gateway_requests_total",
        "mastra_gateway_request_duration_seconds",
        "mastra_gateway_upstream_duration_seconds",
        "mastra_gateway_overhead_seconds",
        "mastra_gateway_stream_first_token_seconds",
        "mastra_gateway_open_streams",
        "mastra_gateway_cache_requests_total",
        "mastra_gateway_upstream_up",
        "mastra_gateway_upstream_faults_total",
        "mastra_gateway_rate_limited_total",
    ] {
        assert!(
            exported.contains_key(family),
            "{family} not exported:\n{text}"
        );
    }

    let mut problems = Vec::new();
    let dashboards = deploy_files("grafana", "json");
    let rules = deploy_files("prometheus", "yaml");
    assert!(!dashboards.is_empty() && !rules.is_empty());
    let on_dashboard = check_assets(&dashboards, &exported, &mut problems);
    let in_rules = check_assets(&rules, &exported, &mut problems);
    for family in exported.keys() {
        if !on_dashboard.contains(family) {
            problems.push(format!(
                "deploy/grafana: the gateway exports `{family}`, but no dashboard panel shows it"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "deploy assets vs. the gateway's /metrics:\n  {}\n(exported: {:?})",
        problems.join("\n  "),
        exported.keys().collect::<Vec<_>>()
    );
    // The extraction found something: a dashboard over every metric, rules over several.
    assert!(on_dashboard.len() >= 9, "dashboard names {on_dashboard:?}");
    assert!(in_rules.len() >= 5, "rules name {in_rules:?}");
}

#[test]
fn the_name_extraction_can_fail() {
    // A made-up metric, a wrong selector label and a wrong grouping label are all reported.
    let exposition = "# TYPE mastra_gateway_requests_total counter\n\
        mastra_gateway_requests_total{route=\"r\",status=\"200\",agent=\"a\"} 1\n\
        # TYPE mastra_gateway_overhead_seconds histogram\n\
        mastra_gateway_overhead_seconds_bucket{route=\"r\",le=\"0.1\"} 1\n\
        mastra_gateway_overhead_seconds_sum{route=\"r\"} 0.01\n\
        mastra_gateway_overhead_seconds_count{route=\"r\"} 1\n";
    let exported = families(exposition);
    assert_eq!(
        exported["mastra_gateway_overhead_seconds"].labels,
        BTreeSet::from(["le".to_string(), "route".to_string()])
    );
    let dir = std::env::temp_dir().join(format!("deploy-assets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dash = dir.join("d.json");
    std::fs::write(
        &dash,
        json!({"panels": [{"targets": [
            {"expr": "sum by (route) (rate(mastra_gateway_requests_total{status=~\"5..\"}[5m]))"},
            {"expr": "histogram_quantile(0.99, sum by (le, route) (rate(mastra_gateway_overhead_seconds_bucket[5m])))"},
            {"expr": "rate(mastra_gateway_request_total[5m])"},
            {"expr": "sum(rate(mastra_gateway_requests_total{code=\"500\"}[5m]))"},
            {"expr": "sum by (tenant) (rate(mastra_gateway_requests_total[5m]))"},
        ]}]})
        .to_string(),
    )
    .unwrap();
    let mut problems = Vec::new();
    let named = check_assets(&[dash], &exported, &mut problems);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        named,
        BTreeSet::from([
            "mastra_gateway_overhead_seconds".to_string(),
            "mastra_gateway_requests_total".to_string()
        ])
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("`mastra_gateway_request_total` is not a metric"));
    assert!(problems[1].contains("no label `code`"));
    assert!(problems[2].contains("groups by `tenant`"));
}

/// Runs the gateway binary with `args` (no MASTRA_GATEWAY__* from the test's environment, plus
/// `envs`) and returns its exit code and stderr.
async fn run_binary(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mastra-gateway"));
        cmd.args(&args);
        for (k, _) in std::env::vars() {
            if k.starts_with("MASTRA_GATEWAY__") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(envs);
        let out = cmd.output().expect("the gateway binary runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand_checks_the_admin_listener() {
    let fake = FakeMastra::start(happy).await;
    let gw = gateway(&fake.url, "").await;
    let admin = gw.admin_addr.to_string();

    let healthz = format!("http://{admin}/healthz");
    let (code, err) = run_binary(&["healthcheck", "--url", &healthz], &[]).await;
    assert_eq!(code, Some(0), "{err}");

    // Without --url: the admin listener of the config (file, environment, flags), as the
    // image's HEALTHCHECK runs it.
    let dir = std::env::temp_dir().join(format!("deploy-healthcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(&config, format!("[server]\nadmin_listen = \"{admin}\"\n")).unwrap();
    let (code, err) = run_binary(&["--config", config.to_str().unwrap(), "healthcheck"], &[]).await;
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run_binary(
        &["healthcheck"],
        &[("MASTRA_GATEWAY__SERVER__ADMIN_LISTEN", &admin)],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();

    // Anything but 200 is unhealthy: a 404, a closed port.
    let (code, err) = run_binary(
        &["healthcheck", "--url", &format!("http://{admin}/nope")],
        &[],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(err.contains("answered 404"), "{err}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, err) = run_binary(
        &[
            "healthcheck",
            "--url",
            &format!("http://{closed}/healthz"),
            "--timeout",
            "2s",
        ],
        &[],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(err.contains("unhealthy"), "{err}");
}
