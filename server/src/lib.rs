//! The Chronicle server as a library: configuration, the axum router and the serve
//! loop. `main.rs` is only the command line; tests start the same server on a random
//! port through [`serve`].

pub mod bench_stream;
pub mod config;
pub mod csrf;
mod health;
pub mod mail;
pub mod maintenance;
mod server_fn_status;
pub mod stream;

use std::future::Future;

use axum::extract::{ConnectInfo, FromRef};
use axum::routing::get;
use axum::serve::IncomingStream;
use axum::Router;
use chronicle::Store;
use chronicle_app::api::SiteConfig;
use chronicle_app::{shell, App};
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub leptos: LeptosOptions,
    pub store: Store,
    pub site: SiteConfig,
    /// Shares each commit's new activity with every live stream of this process.
    pub hub: stream::Hub,
    /// How often a live stream re-checks its session and membership.
    pub stream_recheck: std::time::Duration,
    /// How often a live stream looks whether it has been silent; a silent stream sends a
    /// keep-alive comment, so silence lasts one to two periods.
    pub stream_keep_alive: std::time::Duration,
    /// Bytes a live stream may have waiting for a slow client before it sheds them and
    /// catches up from the database at the client's pace (see `stream::BACKLOG_LIMIT`).
    pub stream_backlog_limit: usize,
}

impl AppState {
    /// State for a server at `leptos.site_addr` with default site settings: public URL
    /// `http://<addr>`, no development mailbox.
    pub fn new(leptos: LeptosOptions, store: Store) -> Self {
        let site = SiteConfig {
            public_url: format!("http://{}", leptos.site_addr),
            dev_mailbox: false,
            trust_proxy: false,
        };
        AppState {
            leptos,
            hub: stream::Hub::new(store.clone()),
            store,
            site,
            stream_recheck: stream::RECHECK,
            stream_keep_alive: stream::KEEP_ALIVE,
            stream_backlog_limit: stream::BACKLOG_LIMIT,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The app's page routes, generated once per process. Generating renders the app in a
/// special mode; when tests built a router per server while other servers in the same
/// process rendered pages, about one page render in a hundred never finished (the
/// session-1 "rare hang"; 4 failing runs in 15 before this cache, 0 in 25 after). A
/// production process builds one router, before it serves anything.
pub fn routes() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The whole HTTP surface: health, server functions, pages and static files behind the
/// cross-site request check, and the live streams (GETs) beside it.
pub fn router(state: AppState) -> Router {
    let routes = routes();
    let store = state.store.clone();
    let site = state.site.clone();
    let leptos = state.leptos.clone();
    let origin = csrf::SiteOrigin::from_public_url(&state.site.public_url);
    let pages = Router::new()
        .route("/healthz", get(health::healthz))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(store.clone());
                provide_context(site.clone());
            },
            move || shell(leptos.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(server_fn_status::set_status))
        .layer(axum::middleware::from_fn_with_state(origin, csrf::check))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    // Live streams stand outside those layers: they are GETs (nothing for the cross-site
    // check) and long-lived, and the trace layer would read the clock twice and enter a
    // span for every frame of every stream.
    Router::new()
        .route("/{account}/events", get(stream::events))
        .merge(pages)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Every node hears every node's commits (PostgreSQL); SQLite needs no relay.
    let relay = state.store.relay_cluster_commits();
    // The hub follows commits until the streams are closed, below.
    tokio::spawn(state.hub.clone().run());
    let closing_hub = state.hub.clone();
    let closing_at_shutdown = state.hub.clone();
    // Each connection's requests can reach its socket: a live stream takes it over
    // (see `stream::socket`). They also see the client's address, as `ConnectInfo`.
    let listener = stream::Listener(listener);
    let app = router(state);
    let make_service = tower::service_fn(move |incoming: IncomingStream<'_, stream::Listener>| {
        let take_over = incoming.io().take_over();
        let addr = *incoming.remote_addr();
        let app = app
            .clone()
            .map_request(move |mut req: axum::extract::Request| {
                req.extensions_mut().insert(ConnectInfo(addr));
                req.extensions_mut().insert(take_over.clone());
                req
            });
        std::future::ready(Ok::<_, std::convert::Infallible>(app))
    });
    let served = axum::serve(listener, make_service)
        .with_graceful_shutdown(async move {
            shutdown.await;
            closing_at_shutdown.close_streams();
        })
        .await;
    // However serving ended, the streams end with it.
    closing_hub.close_streams();
    if let Some(relay) = relay {
        relay.abort();
    }
    served
}
