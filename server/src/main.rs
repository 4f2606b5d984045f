//! `chronicle`: serve the app, or run a maintenance command.

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use chronicle::identity::mail::MailJobs;
use chronicle::queue::{Worker, WorkerConfig};
use chronicle::{LogProtection, Store};
use chronicle_server::config::{
    leptos_options, mask_password, BenchKind, Cli, Command, JobsAction, Projection, ServeArgs,
};
use chronicle_server::{maintenance, serve, AppState};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn")),
        )
        .init();

    let cli = Cli::parse_args();
    let database_url = cli.database_url.clone();
    let owner_url = cli.migrate_database_url.clone();
    // Opens the database for a command, migrating it through the owner's login if one
    // is set.
    let open = || async {
        match &owner_url {
            Some(owner) => Store::open_migrated_by(&database_url, owner).await,
            None => Store::open(&database_url).await,
        }
    };
    match cli.command() {
        Command::Migrate => {
            let store = Store::connect(owner_url.as_deref().unwrap_or(&database_url)).await?;
            store.migrate().await?;
            let status = store.status().await?;
            println!(
                "{} database migrated to version {}",
                status.engine,
                status.migration_version.unwrap_or(0)
            );
            store.close().await;
        }
        Command::Serve(ServeArgs { addr, site }) => {
            let leptos = leptos_options(addr)?;
            let transport =
                chronicle_server::mail::transport(site.smtp_url.as_deref(), &site.mail_from)?;
            let store = open().await?;
            let status = store.status().await?;
            let listener = TcpListener::bind(leptos.site_addr).await?;
            tracing::info!(
                "Chronicle {} listening on http://{} ({} database, migration {})",
                env!("CARGO_PKG_VERSION"),
                listener.local_addr()?,
                status.engine,
                status.migration_version.unwrap_or(0)
            );
            if let Some(owner) = &owner_url {
                tracing::info!("migrations: through {}", mask_password(owner));
                tracing::warn!(
                    "this server holds the owner's login (CHRONICLE_MIGRATE_DATABASE_URL): \
                     whoever takes the process over can alter the event log with it. In \
                     production run `chronicle migrate` with it as a step of its own and \
                     serve without it (README: Database logins)"
                );
            }
            warn_if_the_log_is_alterable(&store).await;
            // What this process was told, so an operator can see a setting was taken.
            tracing::info!(
                "settings: database_url={} addr={} {}",
                mask_password(&database_url),
                listener.local_addr()?,
                site.describe()
            );
            // The queue worker runs beside the web server and stops with it.
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let mut worker = Worker::new(store.clone(), WorkerConfig::default());
            worker.register(std::sync::Arc::new(
                MailJobs::new(transport).keeping_sent_bodies(site.dev_mailbox),
            ));
            let worker = tokio::spawn(worker.run(stopped));
            let mut state = AppState::new(leptos, store.clone());
            if let Some(url) = site.public_url {
                state.site.public_url = url;
            }
            state.site.dev_mailbox = site.dev_mailbox;
            state.site.trust_proxy = site.trust_proxy;
            if site.dev_mailbox {
                tracing::warn!(
                    "the development mailbox is on: /dev/mailbox shows every sign-in link"
                );
            }
            let served = serve(listener, state, async move {
                shutdown_signal().await;
                let _ = stop.send(true);
            })
            .await;
            match worker.await {
                Ok(Err(e)) => tracing::error!(error = %e, "queue worker failed"),
                Err(e) => tracing::error!(error = %e, "queue worker panicked"),
                Ok(Ok(())) => {}
            }
            store.close().await;
            served?;
            tracing::info!("stopped");
        }
        Command::Verify { anchors } => {
            let anchors = match anchors {
                Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("cannot read the anchors file {}: {e}", path.display())
                })?),
                None => None,
            };
            let store = open().await?;
            let intact = maintenance::verify(&store, anchors.as_deref()).await?;
            store.close().await;
            if !intact {
                std::process::exit(1);
            }
        }
        Command::Replay {
            projection: Projection::Activity { account },
        } => {
            let store = open().await?;
            maintenance::replay_activity(&store, account.as_deref()).await?;
            store.close().await;
        }
        Command::Bench {
            which:
                BenchKind::Stream {
                    subscribers,
                    events,
                    rate,
                    peer,
                    peer_pid,
                },
        } => {
            let peer = peer.zip(peer_pid);
            let rounds = chronicle_server::bench_stream::run(
                &database_url,
                &subscribers,
                events,
                rate,
                peer,
            )
            .await?;
            let ours: Vec<_> = rounds.iter().filter(|r| r.target == "chronicle").collect();
            for r in &rounds {
                // Chronicle's round with the same number of streams, to compare against.
                let ours_at_n = ours.iter().find(|o| o.subscribers == r.subscribers);
                let ratio = match (r.target.as_str(), ours_at_n) {
                    ("chronicle", _) | (_, None) => String::new(),
                    (other, Some(o)) => format!(
                        " | chronicle / {other}: p99 latency {:.2}x, fan-out {} (below 1: \
                         Chronicle faster), deliveries/s {:.2}x (above 1: Chronicle more)",
                        o.p99_ms / r.p99_ms,
                        if r.fan_out_ms > 0.0 {
                            format!("{:.2}x", o.fan_out_ms / r.fan_out_ms)
                        } else {
                            "-".into()
                        },
                        o.deliveries_per_s / r.deliveries_per_s
                    ),
                };
                println!(
                    "P3 {:>10} {:>5} streams: p50 {:.1} ms p99 {:.1} ms (first stream {:.1} ms, fan-out {:.1} ms), {:.0} deliveries/s, {} missing, {} per stream{}",
                    r.target,
                    r.subscribers,
                    r.p50_ms,
                    r.p99_ms,
                    r.first_ms,
                    r.fan_out_ms,
                    r.deliveries_per_s,
                    r.missing,
                    r.kb_per_stream.map_or("?".into(), |k| format!("{k:.1} KB")),
                    ratio
                );
            }
            println!("{}", serde_json::to_string(&rounds)?);
        }
        Command::Bench { which } => {
            let store = open().await?;
            match which {
                BenchKind::Record { events, batches } => {
                    let r = chronicle::bench::record::run(&store, events, batches).await?;
                    println!(
                        "P1 {}: record {:.0} tx/s vs floor {:.0} tx/s = {:.2}x (goal >= 0.5); \
                         batched {:.0} events/s vs the database alone {:.0} events/s = {:.2}x",
                        r.engine,
                        r.record_tx_per_s,
                        r.floor_tx_per_s,
                        r.ratio,
                        r.batched_events_per_s,
                        r.batched_ceiling_events_per_s,
                        r.batched_ratio
                    );
                    println!("{}", serde_json::to_string(&r)?);
                }
                BenchKind::Queue {
                    jobs,
                    workers,
                    concurrency,
                    local_queue,
                    samples,
                } => {
                    let r = chronicle::bench::queue::run(
                        &store,
                        jobs,
                        workers,
                        concurrency,
                        local_queue,
                        samples,
                    )
                    .await?;
                    println!(
                        "P2 {}: enqueue {:.0} jobs/s, drain {:.0} jobs/s ({} worker(s) x {}, local queue {}), latency p50 {:.2} ms p99 {:.2} ms",
                        r.engine, r.enqueue_jobs_per_s, r.drain_jobs_per_s, r.workers, r.concurrency,
                        r.local_queue, r.latency_p50_ms, r.latency_p99_ms
                    );
                    println!("{}", serde_json::to_string(&r)?);
                }
                // Matched above: it starts a server of its own instead.
                BenchKind::Stream { .. } => {}
            }
            store.close().await;
        }
        Command::Jobs { action } => {
            let store = open().await?;
            match action {
                JobsAction::Dead => maintenance::list_dead_jobs(&store).await?,
                JobsAction::Retry { id } => {
                    chronicle::queue::retry_dead(&store, id).await?;
                    println!("job {id} is queued again");
                }
            }
            store.close().await;
        }
    }
    Ok(())
}

/// Says at start when this server's own login could rewrite the event log.
async fn warn_if_the_log_is_alterable(store: &Store) {
    let protection = match store.log_protection().await {
        Ok(p) => p,
        // Advisory: a check that cannot run does not stop the server.
        Err(e) => {
            tracing::warn!(error = %e, "could not check what this login can do to the event log");
            return;
        }
    };
    if let LogProtection::Alterable { login, why } = protection {
        tracing::warn!(
            "the database login {login} can alter the event log ({why}); only `chronicle \
             verify` and its anchors would show a change. In production, serve as a login \
             that is only a member of chronicle_serving and migrate through \
             CHRONICLE_MIGRATE_DATABASE_URL (README: Database logins)"
        );
    }
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
