//! The server over real HTTP on a random port: health, the start page's server-side
//! HTML, and the server function behind its form.

use chronicle::Store;
use chronicle_server::{config, serve, AppState};
use tokio::net::TcpListener;

/// A running server; stops when dropped.
struct TestServer {
    base: String,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn spawn_app(store: Store) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let leptos = config::leptos_options(Some(addr)).expect("leptos options");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, AppState { leptos, store }, async {
        let _ = stopped.await;
    }));
    TestServer {
        base: format!("http://{addr}"),
        // A stuck request fails the test (naming it) instead of hanging the run.
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("client"),
        _stop: stop,
    }
}

impl TestServer {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    async fn create_account(&self, name: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/create_account", self.base))
            .form(&[("name", name)])
            .send()
            .await
            .expect("POST")
    }
}

chronicle::engine_tests! {
    async fn health_reports_engine_migration_and_version(store) {
        let engine = store.engine().to_string();
        let latest = store.latest_migration();
        let app = spawn_app(store).await;
        let res = app.get("/healthz").await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["database"]["engine"], engine.as_str());
        assert_eq!(body["database"]["migration_version"], serde_json::json!(latest));
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }

    async fn an_account_created_through_the_server_function_is_on_the_page(store) {
        let app = spawn_app(store).await;
        let res = app.create_account("Acme Design").await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let created: serde_json::Value = res.json().await.expect("json");
        assert_eq!(created["slug"], "acme-design");

        let html = app.get("/").await.text().await.expect("html");
        assert!(html.contains("Acme Design"), "{html}");
        assert!(html.contains(r#"data-slug="acme-design""#), "{html}");
    }
}

#[tokio::test]
async fn the_start_page_is_rendered_on_the_server_with_hydration_scripts() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store).await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<title>Chronicle</title>"), "{html}");
    assert!(html.contains("No teams yet"), "{html}");
    assert!(html.contains(r#"name="name""#), "the create form: {html}");
    // The hydration script loads the WASM bundle by its cargo-leptos output name.
    assert!(html.contains("/pkg/chronicle.js"), "{html}");
}

#[tokio::test]
async fn an_invalid_name_gets_a_clear_422_and_writes_nothing() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store.clone()).await;
    let res = app.create_account("   ").await;
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.expect("json error body");
    assert_eq!(body["kind"], "invalid");
    assert_eq!(body["field"], "name");
    assert_eq!(body["message"], "the account needs a name");

    let res = app.create_account(&"x".repeat(81)).await;
    assert_eq!(res.status(), 422);
    assert!(chronicle::accounts::list_accounts(&store)
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn a_malformed_server_function_call_is_a_4xx_not_a_500() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store).await;
    let res = app
        .client
        .post(format!("{}/api/create_account", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nonsense=%ZZ")
        .send()
        .await
        .expect("POST");
    assert!(res.status().is_client_error(), "{}", res.status());
}

#[tokio::test]
async fn an_unknown_page_is_a_404() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store).await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.expect("html").contains("Page not found"));
}
