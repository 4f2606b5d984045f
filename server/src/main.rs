//! `chronicle`: serve the app, or run a maintenance command.

use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use chronicle::Store;
use chronicle_server::config::{leptos_options, Cli, Command};
use chronicle_server::{serve, AppState};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn")),
        )
        .init();

    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { addr: None }) {
        Command::Migrate => {
            let store = Store::connect(&cli.database_url).await?;
            store.migrate().await?;
            let status = store.status().await?;
            println!(
                "{} database migrated to version {}",
                status.engine,
                status.migration_version.unwrap_or(0)
            );
            store.close().await;
        }
        Command::Serve { addr } => {
            let leptos = leptos_options(addr)?;
            let store = Store::open(&cli.database_url).await?;
            let status = store.status().await?;
            let listener = TcpListener::bind(leptos.site_addr).await?;
            tracing::info!(
                "Chronicle {} listening on http://{} ({} database, migration {})",
                env!("CARGO_PKG_VERSION"),
                listener.local_addr()?,
                status.engine,
                status.migration_version.unwrap_or(0)
            );
            serve(listener, AppState { leptos, store: store.clone() }, shutdown_signal()).await?;
            store.close().await;
            tracing::info!("stopped");
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
