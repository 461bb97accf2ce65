//! CLI: `mastra-gateway [serve]` and `mastra-gateway check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mastra_gateway::config::{self, CliOverrides, Config};
use mastra_gateway::server::Gateway;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
                config.upstream.url
            );
            ExitCode::SUCCESS
        }
        Command::Serve => serve(config, cli.config.clone(), overrides),
    }
}

fn serve(config: Config, path: Option<PathBuf>, overrides: CliOverrides) -> ExitCode {
    telemetry::init_logging(&config.logging);
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
    runtime.block_on(async move {
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
            upstream = %gateway.state.load().config.upstream.url,
            "mastra-gateway listening"
        );
        let probe = gateway.state.load_full().mastra.probe().await;
        match probe {
            Ok(()) => tracing::info!("upstream ready"),
            Err(reason) => {
                tracing::warn!(%reason, "upstream not ready yet; /readyz reports 503 until it is")
            }
        }
        wait_for_shutdown(&gateway, path, overrides).await;
        tracing::info!("shutting down");
        gateway.shutdown();
        gateway.wait().await;
        ExitCode::SUCCESS
    })
}

/// Waits for SIGTERM/SIGINT. On SIGHUP the config (same file, environment and flags) is
/// reloaded; an invalid one is refused with the reason and the current one keeps serving.
async fn wait_for_shutdown(gateway: &Gateway, path: Option<PathBuf>, overrides: CliOverrides) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
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
    }
}
