//! A real server on a random port, and a small HTTP client that behaves like a
//! browser where it matters here: it sends `Origin` on changes and keeps a session
//! cookie.
#![allow(dead_code)]

use chronicle::Store;
use chronicle_server::{config, serve, AppState};
use tokio::net::TcpListener;

/// A running server; stops when dropped.
pub struct TestServer {
    pub base: String,
    pub store: Store,
    pub client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn spawn_app(store: Store) -> TestServer {
    spawn_app_with(store, |_| {}).await
}

/// Every test's server runs on this one runtime, as a real server process runs on one;
/// the tests' own runtimes only drive their clients.
fn server_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime")
    })
}

/// Starts a server after `configure` adjusted its state (e.g. the dev mailbox).
pub async fn spawn_app_with(store: Store, configure: impl FnOnce(&mut AppState)) -> TestServer {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("non-blocking");
    let addr = std_listener.local_addr().expect("addr");
    let leptos = config::leptos_options(Some(addr)).expect("leptos options");
    let mut state = AppState::new(leptos, store.clone());
    configure(&mut state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    server_runtime().spawn(async move {
        let listener = TcpListener::from_std(std_listener).expect("listener");
        serve(listener, state, async {
            let _ = stopped.await;
        })
        .await
    });
    TestServer {
        base: format!("http://{addr}"),
        store,
        // A stuck request fails the test (naming it) instead of hanging the run.
        // Redirects are not followed: tests look at them.
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        _stop: stop,
    }
}

/// A session cookie's value (`None`: signed out).
pub type Session = Option<String>;

impl TestServer {
    pub async fn get(&self, path: &str, session: &Session) -> reqwest::Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = session {
            req = req.header("cookie", format!("chronicle_session={token}"));
        }
        req.send().await.expect("GET")
    }

    /// A form POST from this site's own pages (as a browser sends it).
    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        session: &Session,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .form(form);
        if let Some(token) = session {
            req = req.header("cookie", format!("chronicle_session={token}"));
        }
        req.send().await.expect("POST")
    }

    /// Calls server function `name` (`/api/<name>`).
    pub async fn call(
        &self,
        name: &str,
        form: &[(&str, &str)],
        session: &Session,
    ) -> reqwest::Response {
        self.post(&format!("/api/{name}"), form, session).await
    }

    /// Signs `email` in through the real flow: request a link over HTTP, read it from
    /// the outbox, post it back, and keep the cookie.
    pub async fn sign_in(&self, email: &str) -> Session {
        let res = self
            .call("request_sign_in", &[("email", email)], &None)
            .await;
        assert_eq!(res.status(), 200);
        let token = latest_link_token(&self.store, email).await;
        let res = self
            .call("sign_in_with_link", &[("token", &token)], &None)
            .await;
        assert_eq!(res.status(), 200);
        Some(session_cookie(&res).expect("a session cookie"))
    }
}

/// The token in the newest sign-in mail to `email`.
pub async fn latest_link_token(store: &Store, email: &str) -> String {
    let mail = chronicle::identity::mail::recent(store, 50)
        .await
        .expect("outbox");
    let message = mail
        .iter()
        .find(|m| m.recipient == email && m.body.contains("token="))
        .expect("a sign-in mail");
    let start = message.body.find("token=").expect("token") + "token=".len();
    message.body[start..start + 43].to_owned()
}

/// The session token a response sets, if it sets one.
pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    set_cookie(res, "chronicle_session").filter(|v| !v.is_empty())
}

/// The value a response's `Set-Cookie` gives cookie `name` (empty when it deletes it).
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(prefix.as_str()))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
}

/// Where a server function sent the browser (`Location`; leptos answers a script's call
/// with 200 + Location, a plain form post with 302 + Location).
pub fn location(res: &reqwest::Response) -> Option<&str> {
    res.headers().get("location").and_then(|v| v.to_str().ok())
}
