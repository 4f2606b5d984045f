//! The live timeline over real HTTP: a stream replays, follows live commits in order,
//! resumes after `Last-Event-ID` with exactly the missed items, refuses other teams,
//! and — on PostgreSQL — carries events recorded through one server process to a
//! browser connected to another.

mod support;

use std::time::Duration;

use chronicle::accounts::Current;
use chronicle::identity::sessions;
use chronicle::testing::team;
use support::spawn_app;

/// A server-sent event stream read from a real connection.
struct EventStream {
    res: reqwest::Response,
    buf: String,
}

impl EventStream {
    async fn open(url: &str, token: &str, last_event_id: Option<i64>) -> reqwest::Response {
        // No overall time-out: the body never ends. Each read below has its own.
        let client = reqwest::Client::new();
        let mut req = client
            .get(url)
            .header("cookie", format!("chronicle_session={token}"));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        req.send().await.expect("GET stream")
    }

    async fn connect(url: &str, token: &str, last_event_id: Option<i64>) -> EventStream {
        let res = Self::open(url, token, last_event_id).await;
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        EventStream {
            res,
            buf: String::new(),
        }
    }

    /// The next `(id, data)`; `None` if nothing arrives within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<(i64, serde_json::Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data) = (None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = serde_json::from_str(v.trim()).ok();
                    }
                }
                if let (Some(id), Some(data)) = (id, data) {
                    return Some((id, data));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .ok()?;
            let bytes = chunk.expect("read stream")?;
            self.buf.push_str(&String::from_utf8_lossy(&bytes));
        }
    }

    async fn expect(&mut self, what: &str) -> (i64, serde_json::Value) {
        self.next(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no event: {what}"))
    }
}

/// A fresh session for `who`: the cookie value a browser would send.
async fn token_for(store: &chronicle::Store, who: &Current) -> String {
    sessions::start(store, who.user.id, None)
        .await
        .expect("session")
        .token
}

async fn board_with_column(store: &chronicle::Store, who: &Current) -> (uuid::Uuid, uuid::Uuid) {
    let b = chronicle::testing::board(store, who).await;
    (b.board.id, b.column("To do"))
}

chronicle::engine_tests! {
    async fn a_stream_follows_commits_and_resumes_after_the_last_event_id(store) {
        let ana = team(&store, "Acme", "ana@example.com").await;
        let (board, todo) = board_with_column(&store, &ana).await;
        let token = token_for(&store, &ana).await;
        let app = spawn_app(store.clone()).await;
        let url = format!("{}/acme/events?scope=board&id={board}", app.base);

        let mut live = EventStream::connect(&url, &token, None).await;
        // Nothing old is replayed without a cursor.
        assert!(live.next(Duration::from_millis(300)).await.is_none());
        for title in ["One", "Two", "Three"] {
            chronicle::cards::create_card(&store, &ana, todo, title).await.expect("card");
        }
        let mut seen = Vec::new();
        for title in ["One", "Two", "Three"] {
            let (id, data) = live.expect(title).await;
            assert_eq!(data["event_type"], "card.created");
            assert!(data["description"].as_str().unwrap_or_default().contains(title), "{data}");
            assert_eq!(data["sequence"], id);
            seen.push(id);
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
        drop(live);

        // Missed while disconnected: exactly these come back, then the stream is live.
        chronicle::cards::create_card(&store, &ana, todo, "Four").await.expect("card");
        chronicle::cards::create_card(&store, &ana, todo, "Five").await.expect("card");
        let mut again = EventStream::connect(&url, &token, Some(seen[2])).await;
        let (four, d4) = again.expect("Four").await;
        let (five, d5) = again.expect("Five").await;
        assert!(d4["description"].as_str().unwrap_or_default().contains("Four"));
        assert!(d5["description"].as_str().unwrap_or_default().contains("Five"));
        assert!(four > seen[2] && five > four);
        assert!(again.next(Duration::from_millis(300)).await.is_none(), "no duplicates");
        chronicle::cards::create_card(&store, &ana, todo, "Six").await.expect("card");
        let (six, _) = again.expect("Six").await;
        assert!(six > five);

        // ?since= does the same for clients that reconnect by themselves.
        let mut since = EventStream::connect(&format!("{url}&since={five}"), &token, None).await;
        assert_eq!(since.expect("Six").await.0, six);
    }

    async fn a_stream_shows_only_its_scope_and_its_team(store) {
        let ana = team(&store, "Acme", "ana@example.com").await;
        let zed = team(&store, "Zeta", "zed@example.com").await;
        let (board, todo) = board_with_column(&store, &ana).await;
        let (other_board, other_todo) = board_with_column(&store, &ana).await;
        let (zboard, ztodo) = board_with_column(&store, &zed).await;
        let token = token_for(&store, &ana).await;
        let app = spawn_app(store.clone()).await;

        let mut stream = EventStream::connect(&format!("{}/acme/events?scope=board&id={board}", app.base), &token, None).await;
        chronicle::cards::create_card(&store, &zed, ztodo, "Zeta secret").await.expect("zeta card");
        chronicle::cards::create_card(&store, &ana, other_todo, "Other board").await.expect("other");
        chronicle::cards::create_card(&store, &ana, todo, "This board").await.expect("this");
        let (_, data) = stream.expect("this board's card").await;
        assert!(data["description"].as_str().unwrap_or_default().contains("This board"), "{data}");
        assert!(stream.next(Duration::from_millis(300)).await.is_none());

        // Another team's stream and board are refused; so are the signed-out and bad input.
        for (path, token, status) in [
            ("/zeta/events".to_owned(), token.as_str(), 404),
            (format!("/acme/events?scope=board&id={zboard}"), token.as_str(), 404),
            (format!("/acme/events?scope=board&id={other_board}"), "forged", 401),
            ("/acme/events?scope=board".to_owned(), token.as_str(), 422),
            ("/acme/events?scope=galaxy".to_owned(), token.as_str(), 422),
            ("/acme/events?since=-1".to_owned(), token.as_str(), 422),
        ] {
            let res = EventStream::open(&format!("{}{path}", app.base), token, None).await;
            assert_eq!(res.status(), status, "{path}");
        }
        let res = EventStream::open(&format!("{}/acme/events", app.base), &token, Some(-5)).await;
        assert_eq!(res.status(), 422);
    }
}

mod fan_out {
    use super::*;

    chronicle::engine_tests! {
        async fn concurrent_writers_reach_every_stream_once_and_in_order(store) {
            let ana = team(&store, "Acme", "ana@example.com").await;
            let (board, todo) = board_with_column(&store, &ana).await;
            let token = token_for(&store, &ana).await;
            let app = spawn_app(store.clone()).await;
            let base = format!("{}/acme/events", app.base);
            let mut streams = [
                EventStream::connect(&format!("{base}?scope=account"), &token, None).await,
                EventStream::connect(&format!("{base}?scope=board&id={board}"), &token, None).await,
                EventStream::connect(&format!("{base}?scope=board&id={board}&types=card.created"), &token, None).await,
                // Only the database knows what Ana follows: the stream reads instead of filtering.
                EventStream::connect(&format!("{base}?who=my_items"), &token, None).await,
            ];
            let writers: Vec<_> = (0..4).map(|w| {
                let (store, ana) = (store.clone(), ana.clone());
                tokio::spawn(async move {
                    for i in 0..10 {
                        chronicle::cards::create_card(&store, &ana, todo, &format!("w{w}-{i}")).await.expect("card");
                    }
                })
            }).collect();
            for w in writers {
                w.await.expect("writer");
            }
            for (n, stream) in streams.iter_mut().enumerate() {
                let mut seqs = Vec::new();
                for _ in 0..40 {
                    let (id, data) = stream.expect("a card").await;
                    assert_eq!(data["event_type"], "card.created", "stream {n}");
                    seqs.push(id);
                }
                assert!(seqs.windows(2).all(|w| w[0] < w[1]), "stream {n} out of order: {seqs:?}");
                assert!(stream.next(Duration::from_millis(300)).await.is_none(), "stream {n}: a duplicate");
            }
        }
    }
}

/// Two server processes on one PostgreSQL database: an event recorded through node A
/// reaches a stream connected to node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_recorded_on_one_node_reaches_a_stream_on_another() {
    let (store, db) = chronicle::testing::postgres().await;
    let ana = team(&store, "Acme", "ana@example.com").await;
    let (board, todo) = board_with_column(&store, &ana).await;
    let token = token_for(&store, &ana).await;

    let a = Node::start(&db.url).await;
    let b = Node::start(&db.url).await;
    let mut stream = EventStream::connect(
        &format!("{}/acme/events?scope=board&id={board}", b.base),
        &token,
        None,
    )
    .await;

    let res = reqwest::Client::new()
        .post(format!("{}/api/create_card", a.base))
        .header("origin", &a.base)
        .header("cookie", format!("chronicle_session={token}"))
        .form(&[
            ("account", "acme"),
            ("column_id", &todo.to_string()),
            ("title", "Made on A"),
        ])
        .send()
        .await
        .expect("POST to node A");
    assert_eq!(res.status(), 200);
    let (_, data) = stream.expect("the card made on node A").await;
    assert!(
        data["description"]
            .as_str()
            .unwrap_or_default()
            .contains("Made on A"),
        "{data}"
    );
    assert_eq!(data["actor_name"], "Ana");
}

/// A `chronicle serve` process on a free port; killed when dropped.
struct Node {
    base: String,
    child: std::process::Child,
}

impl Node {
    async fn start(database_url: &str) -> Node {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        // Owned by a Node at once, so it is killed and reaped on every path.
        let node = Node {
            base: format!("http://127.0.0.1:{port}"),
            child: std::process::Command::new(env!("CARGO_BIN_EXE_chronicle"))
                .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
                .env("DATABASE_URL", database_url)
                .env("RUST_LOG", "warn")
                .spawn()
                .expect("start chronicle"),
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(res) = client.get(format!("{}/healthz", node.base)).send().await {
                if res.status() == 200 {
                    return node;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node on {} did not become healthy", node.base);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod bulk {
    use super::*;

    chronicle::engine_tests! {
        async fn small_commits_reach_streams_as_carried_and_a_large_one_is_read(store) {
            let ana = team(&store, "Acme", "ana@example.com").await;
            let (_, todo) = board_with_column(&store, &ana).await;
            let token = token_for(&store, &ana).await;
            let mut hub = None;
            let app = support::spawn_app_with(store.clone(), |s| hub = Some(s.hub.clone())).await;
            let hub = hub.expect("the server's hub");
            let mut live = EventStream::connect(&format!("{}/acme/events", app.base), &token, None).await;
            // One card per commit: each commit's announcement carries its item.
            for title in ["One", "Two", "Three"] {
                chronicle::cards::create_card(&store, &ana, todo, title).await.expect("card");
                let (_, data) = live.expect(title).await;
                assert!(data["description"].as_str().unwrap_or_default().contains(title), "{data}");
            }
            assert_eq!(hub.database_reads(), 0, "small commits are shared as announced");
            // More items than a commit carries: the hub reads them.
            let mut tx = store.begin_for(ana.account_id()).await.expect("begin");
            let card = chronicle::testing::card_ref("Bulk");
            for _ in 0..=chronicle::activity::CARRIED_ITEMS {
                chronicle::events::record(&mut tx, ana.account_id(), &ana.actor(),
                    &chronicle::testing::card_moved(&card), chronicle::events::RecordOptions::default())
                    .await.expect("record");
            }
            tx.commit().await.expect("commit");
            for _ in 0..=chronicle::activity::CARRIED_ITEMS {
                live.expect("a moved card").await;
            }
            assert!(hub.database_reads() >= 1, "a large commit is read");
        }

        async fn a_change_of_more_than_a_page_reaches_streams_whole(store) {
            let ana = team(&store, "Acme", "ana@example.com").await;
            let token = token_for(&store, &ana).await;
            let app = spawn_app(store.clone()).await;
            let url = format!("{}/acme/events", app.base);
            let mut live = EventStream::connect(&url, &token, None).await;
            // 250 events in one transaction: more than one read of the feed returns.
            let mut tx = store.begin_for(ana.account_id()).await.expect("begin");
            let card = chronicle::testing::card_ref("Bulk");
            for _ in 0..250 {
                chronicle::events::record(&mut tx, ana.account_id(), &ana.actor(),
                    &chronicle::testing::card_moved(&card), chronicle::events::RecordOptions::default())
                    .await.expect("record");
            }
            tx.commit().await.expect("commit");
            let mut seqs = Vec::new();
            for _ in 0..250 {
                seqs.push(live.expect("a moved card").await.0);
            }
            assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap-free and in order");
            assert!(live.next(Duration::from_millis(300)).await.is_none());
            // A reconnect from before the bulk change replays all of it, too.
            let mut again = EventStream::connect(&url, &token, Some(seqs[0] - 1)).await;
            for expected in &seqs {
                assert_eq!(again.expect("replayed").await.0, *expected);
            }
        }
    }
}

mod revocation {
    use super::*;

    chronicle::engine_tests! {
        async fn a_stream_ends_when_its_member_is_removed_or_signed_out(store) {
            let ana = team(&store, "Acme", "ana@example.com").await;
            let bob = chronicle::testing::join(&store, &ana, "bob@example.com", chronicle::accounts::Role::Member).await;
            let (_, todo) = board_with_column(&store, &ana).await;
            let bob_token = token_for(&store, &bob).await;
            let ana_token = token_for(&store, &ana).await;
            let app = support::spawn_app_with(store.clone(), |s| s.stream_recheck = Duration::from_millis(200)).await;
            let url = format!("{}/acme/events", app.base);
            let mut bobs = EventStream::connect(&url, &bob_token, None).await;
            let mut anas = EventStream::connect(&url, &ana_token, None).await;
            chronicle::cards::create_card(&store, &ana, todo, "Before").await.expect("card");
            bobs.expect("Bob sees it while he is a member").await;
            anas.expect("Ana too").await;

            chronicle::accounts::members::remove_member(&store, &ana, bob.user.id).await.expect("remove");
            chronicle::identity::sessions::end_all(&store, ana.user.id).await.expect("sign out");
            tokio::time::sleep(Duration::from_millis(600)).await;
            chronicle::cards::create_card(&store, &ana, todo, "After").await.expect("card");
            // Both streams have ended: nothing more arrives, and the body is over.
            for (who, stream) in [("Bob", &mut bobs), ("Ana", &mut anas)] {
                let mut rest = Vec::new();
                while let Some((id, data)) = stream.next(Duration::from_secs(2)).await {
                    rest.push((id, data));
                }
                assert!(rest.iter().all(|(_, d)| !d["description"].as_str().unwrap_or_default().contains("After")),
                    "{who} still receives the team's activity: {rest:?}");
            }
        }
    }
}

mod raw {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Opens Acme's team stream over a plain HTTP/1.0 connection as Ana.
    async fn open(app: &support::TestServer, token: &str) -> tokio::net::TcpStream {
        let host = app.base.trim_start_matches("http://").to_owned();
        let mut conn = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        let request = format!(
            "GET /acme/events HTTP/1.0\r\nHost: {host}\r\nCookie: chronicle_session={token}\r\n\r\n"
        );
        conn.write_all(request.as_bytes()).await.expect("request");
        conn
    }

    /// Everything the connection sends until it closes or `within` passes, and whether
    /// it closed.
    async fn read_for(conn: &mut tokio::net::TcpStream, within: Duration) -> (String, bool) {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = [0u8; 1024];
        let mut closed = false;
        while let Ok(read) = tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            match read {
                Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => {
                    closed = true;
                    break;
                }
            }
        }
        (String::from_utf8_lossy(&seen).into_owned(), closed)
    }

    /// Reads until `done` holds for everything read so far (or `within` passes, or the
    /// connection closes); returns what was read. Passing tests wait no longer than
    /// they need; a loaded machine gets the whole of `within`.
    async fn read_until(
        conn: &mut tokio::net::TcpStream,
        within: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = [0u8; 1024];
        while !done(&String::from_utf8_lossy(&seen)) {
            match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    fn has_head(text: &str) -> bool {
        text.contains("\r\n\r\n")
    }

    /// Acme on a fresh SQLite database, with Ana signed in.
    struct Acme {
        store: chronicle::Store,
        ana: Current,
        token: String,
        _db: chronicle::testing::TestDb,
    }

    async fn acme() -> Acme {
        let (store, _db) = chronicle::testing::sqlite().await;
        let ana = team(&store, "Acme", "ana@example.com").await;
        let token = token_for(&store, &ana).await;
        Acme {
            store,
            ana,
            token,
            _db,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_stream_sends_keep_alive_comments() {
        let acme = acme().await;
        let app = support::spawn_app_with(acme.store.clone(), |s| {
            s.stream_keep_alive = Duration::from_millis(150)
        })
        .await;
        let mut conn = open(&app, &acme.token).await;
        let (text, _) = read_for(&mut conn, Duration::from_secs(2)).await;
        assert!(
            text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
            "{text}"
        );
        assert!(
            text.matches(": keep-alive\n\n").count() >= 3,
            "two seconds of silence, 150 ms interval: {text}"
        );
    }

    // A stream that sent an event and then went quiet still sends keep-alive comments:
    // the "sent since the last look" flag only postpones one, by at most a period.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_that_went_quiet_after_an_event_sends_keep_alive_comments() {
        let acme = acme().await;
        let (_, todo) = board_with_column(&acme.store, &acme.ana).await;
        let app = support::spawn_app_with(acme.store.clone(), |s| {
            s.stream_keep_alive = Duration::from_millis(300)
        })
        .await;
        let mut conn = open(&app, &acme.token).await;
        let (head, _) = read_for(&mut conn, Duration::from_millis(100)).await;
        assert!(head.contains(" 200 "), "{head}");
        chronicle::cards::create_card(&acme.store, &acme.ana, todo, "Fix login")
            .await
            .expect("card");
        let (text, closed) = read_for(&mut conn, Duration::from_millis(1500)).await;
        assert!(!closed, "{text}");
        let event = text.find("id: ").expect("the card's event");
        assert!(
            text[event..].contains(": keep-alive\n\n"),
            "1.5 s of silence after the event, 300 ms interval: {text}"
        );
    }

    // HEAD (which axum routes to the GET handler) gets the stream's head, is
    // authorized like it, and gets no body: no replay, no stream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn head_gets_the_streams_head_and_no_stream() {
        let acme = acme().await;
        record_moves(&acme, 1).await;
        let app = spawn_app(acme.store.clone()).await;
        let host = app.base.trim_start_matches("http://").to_owned();
        let mut conn = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        let request = format!(
            "HEAD /acme/events?since=0 HTTP/1.1\r\nHost: {host}\r\nCookie: chronicle_session={}\r\n\r\n",
            acme.token
        );
        conn.write_all(request.as_bytes()).await.expect("request");
        let head = read_until(&mut conn, Duration::from_secs(10), has_head).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/event-stream"), "{head}");
        let (rest, _) = read_for(&mut conn, Duration::from_millis(500)).await;
        assert!(
            !format!("{head}{rest}").contains("id: "),
            "a body after HEAD: {rest}"
        );
        assert_eq!(open_streams(&app).await, 0);
        let signed_out = reqwest::Client::new()
            .head(format!("{}/acme/events", app.base))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(signed_out.status(), 401);
    }

    /// The server's count of open live streams, from `/healthz`.
    async fn open_streams(app: &support::TestServer) -> u64 {
        let health: serde_json::Value = reqwest::get(format!("{}/healthz", app.base))
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json");
        health["live_streams"].as_u64().expect("live_streams")
    }

    /// Whether the server's count of open streams reaches `n` within `within`.
    async fn open_streams_become(app: &support::TestServer, n: u64, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while open_streams(app).await != n {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    // Keep-alive 10 s away: a stream whose client left must be noticed by the socket
    // turning readable at end-of-file, not at its next write.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_whose_client_left_is_closed_at_once() {
        let acme = acme().await;
        let app = spawn_app(acme.store.clone()).await;
        let mut staying = open(&app, &acme.token).await;
        let mut leaving = open(&app, &acme.token).await;
        for conn in [&mut staying, &mut leaving] {
            let head = read_until(conn, Duration::from_secs(10), has_head).await;
            assert!(head.contains(" 200 "), "{head}");
        }
        assert_eq!(open_streams(&app).await, 2);
        drop(leaving);
        assert!(
            open_streams_become(&app, 1, Duration::from_secs(10)).await,
            "the server still held the stream ten seconds after its client left"
        );
        let (_, closed) = read_for(&mut staying, Duration::from_millis(100)).await;
        assert!(!closed, "the other stream closed too");
    }

    /// A connection to Acme's team stream with a small receive buffer, past its head.
    async fn open_small(app: &support::TestServer, token: &str) -> tokio::net::TcpStream {
        let host = app.base.trim_start_matches("http://").to_owned();
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let mut conn = socket
            .connect(host.parse().expect("address"))
            .await
            .expect("connect");
        let request = format!(
            "GET /acme/events HTTP/1.1\r\nHost: {host}\r\nCookie: chronicle_session={token}\r\n\r\n"
        );
        conn.write_all(request.as_bytes()).await.expect("request");
        let head = read_until(&mut conn, Duration::from_secs(10), has_head).await;
        assert!(head.contains(" 200 "), "{head}");
        conn
    }

    /// Records `n` moves of one card in one transaction, as Ana.
    async fn record_moves(acme: &Acme, n: usize) {
        use chronicle::events::{record, RecordOptions};
        use chronicle::testing::{card_moved, card_ref, member};
        let card = card_ref("Fix login");
        let ana = member("Ana");
        let mut tx = acme.store.begin().await.expect("begin");
        for _ in 0..n {
            let moved = card_moved(&card);
            record(
                &mut tx,
                acme.ana.account_id(),
                &ana,
                &moved,
                RecordOptions::default(),
            )
            .await
            .expect("record");
        }
        tx.commit().await.expect("commit");
    }

    // A burst far bigger than the backlog limit and every buffer on the way, to a client
    // that reads slowly: the stream sheds what waits and reads it again from the
    // database at the client's pace — every item arrives, in order, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_client_gets_a_burst_bigger_than_its_backlog_limit_in_full() {
        let acme = acme().await;
        let app =
            support::spawn_app_with(acme.store.clone(), |s| s.stream_backlog_limit = 16 * 1024)
                .await;
        let mut conn = open_small(&app, &acme.token).await;
        // One item first, so the hub knows where the team is and the burst goes
        // straight to the stream's writer (not through a database read).
        record_moves(&acme, 1).await;
        let first = read_until(&mut conn, Duration::from_secs(10), |t| t.ends_with("\n\n")).await;
        let first: i64 = first
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .expect("the first item")
            .parse()
            .expect("a sequence");
        let last = first + 1500;
        record_moves(&acme, 1500).await;
        let mut text = String::new();
        let mut buf = [0u8; 2048];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !text.contains(&format!("id: {last}\n")) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not all items arrived"
            );
            // A slow reader: a little at a time.
            tokio::time::sleep(Duration::from_millis(1)).await;
            let n = conn.read(&mut buf).await.expect("read");
            assert!(n > 0, "the stream closed");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let ids: Vec<i64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .map(|v| v.parse().expect("sequence"))
            .collect();
        assert_eq!(
            ids,
            (first + 1..=last).collect::<Vec<i64>>(),
            "in order, once each"
        );
        assert_eq!(open_streams(&app).await, 1);
    }

    /// A client that stops reading altogether is closed once nothing has gone out to it
    /// for two keep-alive periods, instead of the server holding its frames for ever.
    async fn a_client_that_stopped_reading_is_closed(backlog_limit: usize) {
        let acme = acme().await;
        let app = support::spawn_app_with(acme.store.clone(), |s| {
            s.stream_backlog_limit = backlog_limit;
            s.stream_keep_alive = Duration::from_millis(200);
        })
        .await;
        let mut conn = open_small(&app, &acme.token).await;
        assert_eq!(open_streams(&app).await, 1);
        record_moves(&acme, 1).await;
        let first = read_until(&mut conn, Duration::from_secs(10), |t| t.ends_with("\n\n")).await;
        assert!(first.contains("id: "), "{first}");
        // About 700 KB of items while the client reads nothing.
        record_moves(&acme, 1500).await;
        assert!(
            open_streams_become(&app, 0, Duration::from_secs(15)).await,
            "the stream was still open 15 s after its client stopped reading"
        );
        let (text, closed) = read_for(&mut conn, Duration::from_secs(5)).await;
        assert!(closed, "the client's connection did not end");
        assert!(text.matches("id: ").count() < 1500, "every item arrived");
    }

    // Its backlog passed the limit: the stream was catching up from the database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_catching_up_stream_whose_client_stopped_reading_is_closed() {
        a_client_that_stopped_reading_is_closed(16 * 1024).await;
    }

    // Its backlog stayed under the limit: the frames waited in the stream's writer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_stream_whose_client_stopped_reading_is_closed() {
        a_client_that_stopped_reading_is_closed(16 * 1024 * 1024).await;
    }

    // Keep-alive 10 s and the membership check 30 s away: only the shutdown itself can
    // end the stream within the two seconds allowed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_streams_end_when_the_server_shuts_down() {
        let acme = acme().await;
        let app = spawn_app(acme.store.clone()).await;
        let mut conn = open(&app, &acme.token).await;
        let head = read_until(&mut conn, Duration::from_secs(10), has_head).await;
        assert!(head.contains(" 200 "), "{head}");
        let (_, closed) = read_for(&mut conn, Duration::from_millis(300)).await;
        assert!(!closed, "the stream closed before the shutdown");
        drop(app); // stops the server
        let (_, closed) = read_for(&mut conn, Duration::from_secs(2)).await;
        assert!(
            closed,
            "the stream was still open two seconds after the shutdown"
        );
    }
}
