//! CLI: `mastra-gateway [serve]`, `mastra-gateway check-config`, `mastra-gateway hash-key` and
//! `mastra-gateway healthcheck`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mastra_gateway::config::{self, CliOverrides, Config};
use mastra_gateway::http::server::Gateway;
use mastra_gateway::telemetry;

#[derive(Parser)]
#[command(
    name = "mastra-gateway",
    version,
    about = "OpenAI Responses API gateway for Mastra agents"
)]
struct Cli {
    /// Config file (default: ./config.toml if it exists, else built-in defaults).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Address of the OpenAI API listener, e.g. 0.0.0.0:8080.
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Address of the admin listener (/healthz, /readyz, /metrics).
    #[arg(long, global = true)]
    admin_listen: Option<String>,
    /// Base URL of the Mastra server (the gateway adds /api).
    #[arg(long, global = true)]
    upstream: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Validate the configuration (file + environment + flags) and exit.
    CheckConfig,
    /// Read an API key from stdin and print its SHA-256, for `[[auth.keys]].sha256`.
    HashKey,
    /// Exit 0 if the admin listener's /healthz answers 200, else 1 (a container health check).
    Healthcheck {
        /// URL to GET instead of the configured admin listener's /healthz.
        #[arg(long)]
        url: Option<String>,
        /// Timeout of the whole check: seconds, or with a unit (3s, 500ms).
        #[arg(long, value_parser = mastra_gateway::healthcheck::parse_timeout, default_value = "3s")]
        timeout: std::time::Duration,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::HashKey)) {
        // Needs no config: it runs where the keys are made.
        return hash_key();
    }
    if let Some(Command::Healthcheck {
        url: Some(url),
        timeout,
    }) = &cli.command
    {
        // An explicit URL needs no config.
        return healthcheck(url, *timeout);
    }
    let overrides = CliOverrides {
        listen: cli.listen.clone(),
        admin_listen: cli.admin_listen.clone(),
        upstream: cli.upstream.clone(),
    };
    let config = match config::load(cli.config.as_deref(), &overrides, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mastra-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            println!(
                "config ok: listen {}, admin {}, upstream '{}' at {}",
                config.server.listen,
                config.server.admin_listen,
                config.upstream.name,
                mastra_gateway::config::redacted_url(&config.upstream.url)
            );
            ExitCode::SUCCESS
        }
        Command::Serve => serve(config, cli.config.clone(), overrides),
        Command::HashKey => hash_key(),
        Command::Healthcheck { url, timeout } => {
            let url = url.unwrap_or_else(|| {
                mastra_gateway::healthcheck::healthz_url(config.server.admin_listen)
            });
            healthcheck(&url, timeout)
        }
    }
}

/// `mastra-gateway healthcheck`: 0 when `url` answers 200, else 1 with the reason on stderr.
fn healthcheck(url: &str, timeout: std::time::Duration) -> ExitCode {
    match mastra_gateway::healthcheck::check(url, timeout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("mastra-gateway healthcheck: unhealthy: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// `printf %s "$KEY" | mastra-gateway hash-key` → the hex SHA-256 for `[[auth.keys]].sha256`.
/// Surrounding whitespace (a trailing newline) is not part of the key.
fn hash_key() -> ExitCode {
    use std::io::Read;
    let mut key = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut key) {
        eprintln!("mastra-gateway: cannot read the key from stdin: {e}");
        return ExitCode::from(2);
    }
    if key.trim().is_empty() {
        eprintln!(
            "mastra-gateway: no key on stdin (usage: printf %s \"$KEY\" | mastra-gateway hash-key)"
        );
        return ExitCode::from(2);
    }
    println!("{}", mastra_gateway::plan::auth::hash_key(&key));
    ExitCode::SUCCESS
}

fn serve(config: Config, path: Option<PathBuf>, overrides: CliOverrides) -> ExitCode {
    // Before the runtime: the OTLP exporter's client is a blocking one.
    let telemetry = telemetry::init(&config.logging, &config.telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mastra-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let mut signals = Signals::install();
        let gateway = match Gateway::start(config).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            listen = %gateway.addr,
            admin = %gateway.admin_addr,
            upstreams = gateway.state.load().upstreams.len(),
            "mastra-gateway listening"
        );
        let probe = gateway.state.load_full().upstreams.primary().probe().await;
        match probe {
            Ok(()) => tracing::info!("upstream ready"),
            Err(reason) => {
                tracing::warn!(%reason, "upstream not ready yet; /readyz reports 503 until it is")
            }
        }
        let signal = signals.wait_for_shutdown(&gateway, path, overrides).await;
        let grace = gateway.state.load().config.server.shutdown_grace;
        tracing::info!(
            signal,
            grace = ?grace,
            "shutting down: readiness is false, new connections are refused, open requests and streams may finish"
        );
        gateway.shutdown();
        gateway.wait().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    });
    drop(runtime);
    telemetry.shutdown();
    code
}

/// The signals the gateway handles, registered first thing so that none arriving during the
/// start-up is lost to its default action (which, for SIGTERM and SIGHUP, kills the process).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for SIGTERM/SIGINT and names it. On SIGHUP the config (same file, environment and
    /// flags) is reloaded; an invalid one is refused with the reason and the current one keeps
    /// serving.
    async fn wait_for_shutdown(
        &mut self,
        gateway: &Gateway,
        path: Option<PathBuf>,
        overrides: CliOverrides,
    ) -> &'static str {
        #[cfg(unix)]
        {
            let (Some(term), Some(hup)) = (self.term.as_mut(), self.hup.as_mut()) else {
                let _ = tokio::signal::ctrl_c().await;
                return "SIGINT";
            };
            loop {
                tokio::select! {
                    _ = term.recv() => return "SIGTERM",
                    _ = tokio::signal::ctrl_c() => return "SIGINT",
                    _ = hup.recv() => {
                        match config::load(path.as_deref(), &overrides, std::env::vars()) {
                            Ok(new_config) => match gateway.reload(new_config) {
                                Ok(()) => tracing::info!("config reloaded"),
                                Err(e) => tracing::error!(error = %e, "config reload failed; keeping the current config"),
                            },
                            Err(e) => tracing::error!(error = %e, "invalid config refused on reload; keeping the current config"),
                        }
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (gateway, path, overrides);
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
