//! Passwordless sign-in and sessions, on both engines: links and codes work once and
//! expire, wrong codes are limited, requests are rate-limited, only hashes are stored,
//! and every mail is in the outbox with a delivery job beside it.

use chronicle::identity::{mail, sessions, sign_in, Email, UserId, UserName};
use chronicle::testing::{execute_raw, origin};
use chronicle::Error;

fn email(s: &str) -> Email {
    Email::parse(s).expect("valid e-mail")
}

fn is_invalid(err: &Error, field: &str, fragment: &str) -> bool {
    matches!(err, Error::Invalid { field: f, message } if *f == field && message.contains(fragment))
}

chronicle::engine_tests! {
    async fn a_link_signs_in_once_and_creates_the_person(store) {
        let request = sign_in::request_sign_in(&store, &email("Ana.Lima@Example.com"), &origin("192.0.2.1"))
            .await.expect("request");
        let user = sign_in::redeem_link(&store, &request.token).await.expect("redeem");
        assert_eq!(user.email, "ana.lima@example.com");
        assert_eq!(user.name, "Ana Lima");

        let again = sign_in::redeem_link(&store, &request.token).await.expect_err("second use");
        assert!(is_invalid(&again, "link", "already been used"), "{again:?}");

        // Signing in again later finds the same person.
        let second = sign_in::request_sign_in(&store, &email("ana.lima@example.com"), &origin("192.0.2.1"))
            .await.expect("request");
        let same = sign_in::redeem_code(&store, &email("ana.lima@example.com"), &second.code, None).await.expect("code");
        assert_eq!(same.id, user.id);
    }

    async fn expired_links_and_codes_are_refused(store, db) {
        let addr = email("bob@example.com");
        let request = sign_in::request_sign_in(&store, &addr, &origin("192.0.2.1")).await.expect("request");
        execute_raw(db, "UPDATE sign_in_tokens SET expires_at = 0").await.expect("age the request");
        let err = sign_in::redeem_link(&store, &request.token).await.expect_err("expired");
        assert!(is_invalid(&err, "link", "expired"), "{err:?}");
        let err = sign_in::redeem_code(&store, &addr, &request.code, None).await.expect_err("expired");
        assert!(is_invalid(&err, "code", "expired"), "{err:?}");
        let users: i64 = count(db, "users").await;
        assert_eq!(users, 0, "nobody was created");
    }

    async fn unknown_and_malformed_links_are_refused(store) {
        for token in ["", "nope", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "' OR 1=1 --"] {
            let err = sign_in::redeem_link(&store, token).await.expect_err("bad token");
            assert!(is_invalid(&err, "link", "not valid"), "{token:?}: {err:?}");
        }
    }

    async fn a_wrong_code_counts_and_five_spend_the_request(store) {
        let addr = email("cleo@example.com");
        let request = sign_in::request_sign_in(&store, &addr, &origin("192.0.2.1")).await.expect("request");
        let wrong = if request.code == "000000" { "111111" } else { "000000" };
        for left in (0..5).rev() {
            let err = sign_in::redeem_code(&store, &addr, wrong, None).await.expect_err("wrong code");
            assert!(is_invalid(&err, "code", "not right"), "{err:?}");
            if left > 0 {
                assert!(err.to_string().contains(&format!("{left} tries left")), "{err}");
            }
        }
        // Now even the right code is refused: the request is spent.
        let err = sign_in::redeem_code(&store, &addr, &request.code, None).await.expect_err("spent");
        assert!(is_invalid(&err, "code", "too many wrong codes"), "{err:?}");
        let err = sign_in::redeem_code(&store, &addr, "12ab56", None).await.expect_err("malformed");
        assert!(is_invalid(&err, "code", "six digits"), "{err:?}");
    }

    async fn one_sign_in_spends_every_open_request_for_the_address(store) {
        let addr = email("dev@example.com");
        let first = sign_in::request_sign_in(&store, &addr, &origin("192.0.2.1")).await.expect("first");
        let second = sign_in::request_sign_in(&store, &addr, &origin("192.0.2.1")).await.expect("second");
        sign_in::redeem_link(&store, &second.token).await.expect("redeem second");
        let err = sign_in::redeem_link(&store, &first.token).await.expect_err("first is spent");
        assert!(is_invalid(&err, "link", "already been used"), "{err:?}");
    }

    async fn requests_are_rate_limited_per_address_and_per_network(store, db) {
        let addr = email("eve@example.com");
        for _ in 0..sign_in::MAX_REQUESTS_PER_EMAIL {
            sign_in::request_sign_in(&store, &addr, &origin("192.0.2.1")).await.expect("within limit");
        }
        let err = sign_in::request_sign_in(&store, &addr, &origin("198.51.100.7")).await.expect_err("limited");
        assert!(matches!(&err, Error::RateLimited(m) if m.contains("eve@example.com")), "{err:?}");

        // Other addresses from one IP: limited at the per-IP count.
        let from_one_ip = sign_in::MAX_REQUESTS_PER_IP - sign_in::MAX_REQUESTS_PER_EMAIL;
        for n in 0..from_one_ip {
            sign_in::request_sign_in(&store, &email(&format!("p{n}@example.com")), &origin("192.0.2.1"))
                .await.expect("within the IP limit");
        }
        let err = sign_in::request_sign_in(&store, &email("fresh@example.com"), &origin("192.0.2.1"))
            .await.expect_err("IP limited");
        assert!(matches!(&err, Error::RateLimited(m) if m.contains("network")), "{err:?}");
        // A different network is fine.
        sign_in::request_sign_in(&store, &email("fresh@example.com"), &origin("203.0.113.9"))
            .await.expect("other network");

        // Once the window has passed, the address may ask again.
        execute_raw(db, "UPDATE sign_in_tokens SET created_at = 0").await.expect("age requests");
        sign_in::request_sign_in(&store, &addr, &origin("192.0.2.1")).await.expect("after the window");
    }

    async fn only_hashes_of_secrets_are_stored(store, db) {
        let request = sign_in::request_sign_in(&store, &email("fay@example.com"), &origin("192.0.2.1"))
            .await.expect("request");
        let user = sign_in::redeem_link(&store, &request.token).await.expect("redeem");
        let session = sessions::start(&store, user.id, Some("test")).await.expect("session");
        let token_hex = hex(request.token.as_bytes());
        let session_hex = hex(session.token.as_bytes());
        for (table, column) in [("sign_in_tokens", "token_hash"), ("sessions", "token_hash")] {
            let found = matches_raw(db, &format!(
                "SELECT count(*) FROM {table} WHERE {column} = {} OR {column} = {}",
                blob(db, &token_hex), blob(db, &session_hex)
            )).await;
            assert_eq!(found, 0, "{table} holds a plain secret");
        }
    }

    async fn a_session_signs_in_until_it_ends_or_expires(store, db) {
        let user = chronicle::testing::person(&store, "gus@example.com").await;
        let a = sessions::start(&store, user.id, Some("Firefox")).await.expect("a");
        let b = sessions::start(&store, user.id, Some("Chromium")).await.expect("b");
        let signed_in = sessions::authenticate(&store, &a.token).await.expect("auth").expect("signed in");
        assert_eq!(signed_in.user, user);

        sessions::end(&store, a.id).await.expect("sign out");
        assert!(sessions::authenticate(&store, &a.token).await.expect("auth").is_none());
        assert!(sessions::authenticate(&store, &b.token).await.expect("auth").is_some());

        let c = sessions::start(&store, user.id, None).await.expect("c");
        assert_eq!(sessions::end_all(&store, user.id).await.expect("everywhere"), 2);
        assert!(sessions::authenticate(&store, &b.token).await.expect("auth").is_none());
        assert!(sessions::authenticate(&store, &c.token).await.expect("auth").is_none());

        let d = sessions::start(&store, user.id, None).await.expect("d");
        execute_raw(db, "UPDATE sessions SET expires_at = 0").await.expect("expire");
        assert!(sessions::authenticate(&store, &d.token).await.expect("auth").is_none());
        // Forged tokens never match.
        assert!(sessions::authenticate(&store, "forged").await.expect("auth").is_none());
        assert!(sessions::authenticate(&store, &"x".repeat(43)).await.expect("auth").is_none());
    }

    async fn the_sign_in_mail_is_in_the_outbox_and_delivered_by_a_job(store) {
        let request = sign_in::request_sign_in(&store, &email("hal@example.com"), &origin("192.0.2.1"))
            .await.expect("request");
        let outbox = mail::recent(&store, 10).await.expect("outbox");
        assert_eq!(outbox.len(), 1);
        let message = &outbox[0];
        assert_eq!(message.recipient, "hal@example.com");
        assert!(message.body.contains(&format!("http://chronicle.test/sign-in/verify?token={}", request.token)));
        assert!(message.body.contains(&request.code));
        assert!(message.sent_at.is_none());

        let transport = std::sync::Arc::new(Collecting::default());
        let mut worker = chronicle::queue::Worker::new(store.clone(), Default::default());
        worker.register(std::sync::Arc::new(mail::MailJobs::new(transport.clone())));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(worker.run(stopped));
        chronicle::testing::eventually("the mail is delivered", async || {
            mail::get(&store, message.id).await.expect("get").sent_at.is_some()
        }).await;
        stop.send(true).expect("stop");
        running.await.expect("join").expect("worker");
        assert_eq!(transport.sent(), vec![("hal@example.com".to_owned(), message.subject.clone())]);
        // Once delivered, the link and code are gone from the database.
        let kept = mail::get(&store, message.id).await.expect("get");
        assert_eq!(kept.body, mail::DELIVERED_BODY);
        assert!(!kept.body.contains(&request.token));
    }

    async fn names_can_be_changed_and_are_checked(store) {
        let user = chronicle::testing::person(&store, "ida@example.com").await;
        let renamed = chronicle::identity::rename_user(&store, user.id, &UserName::parse("  Ida Q. ").expect("valid"))
            .await.expect("rename");
        assert_eq!(renamed.name, "Ida Q.");
        assert!(UserName::parse("").is_err());
        assert!(UserName::parse(&"n".repeat(81)).is_err());
        let err = chronicle::identity::rename_user(&store, UserId(uuid::Uuid::now_v7()), &UserName::parse("X").expect("valid"))
            .await.expect_err("nobody");
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    }
}

#[derive(Default)]
struct Collecting(std::sync::Mutex<Vec<(String, String)>>);

impl Collecting {
    fn sent(&self) -> Vec<(String, String)> {
        self.0.lock().expect("lock").clone()
    }
}

impl mail::Transport for Collecting {
    fn deliver<'a>(
        &'a self,
        m: &'a mail::Mail,
    ) -> chronicle::queue::worker_types::BoxFuture<'a, chronicle::Result<()>> {
        Box::pin(async move {
            self.0
                .lock()
                .expect("lock")
                .push((m.recipient.clone(), m.subject.clone()));
            Ok(())
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn blob(db: &chronicle::testing::TestDb, hex: &str) -> String {
    if db.url.starts_with("postgres") {
        format!("'\\x{hex}'::bytea")
    } else {
        format!("x'{hex}'")
    }
}

async fn count(db: &chronicle::testing::TestDb, table: &str) -> i64 {
    matches_raw(db, &format!("SELECT count(*) FROM {table}")).await
}

async fn matches_raw(db: &chronicle::testing::TestDb, sql: &str) -> i64 {
    chronicle::testing::query_i64(db, sql).await
}

mod races {
    use chronicle::identity::{sign_in, Email};
    use chronicle::testing::origin;

    chronicle::engine_tests! {
        async fn parallel_guesses_cannot_exceed_the_attempt_limit(store) {
            let addr = Email::parse("gil@example.com").expect("email");
            let request = sign_in::request_sign_in(&store, &addr, &origin("192.0.2.1")).await.expect("request");
            let guesses: Vec<_> = (0..20u32).map(|i| {
                let (store, addr) = (store.clone(), addr.clone());
                let code = format!("{:06}", (request.code.parse::<u32>().expect("digits") + 1 + i) % 1_000_000);
                tokio::spawn(async move { sign_in::redeem_code(&store, &addr, &code, None).await })
            }).collect();
            let mut not_right = 0;
            for g in guesses {
                let err = g.await.expect("task").expect_err("wrong code");
                if err.to_string().contains("not right") {
                    not_right += 1;
                }
            }
            assert_eq!(not_right, sign_in::MAX_CODE_ATTEMPTS, "only five guesses were compared");
            let err = sign_in::redeem_code(&store, &addr, &request.code, None).await.expect_err("spent");
            assert!(err.to_string().contains("too many"), "{err}");
        }

        async fn parallel_requests_for_one_address_never_pass_its_limit(store) {
            // Before the limit was one step with the insert, 24 such requests sent 7
            // mails on PostgreSQL against a limit of 5.
            let addr = Email::parse("hal@example.com").expect("email");
            let requests: Vec<_> = (0..24u32).map(|i| {
                let (store, addr) = (store.clone(), addr.clone());
                tokio::spawn(async move {
                    sign_in::request_sign_in(&store, &addr, &origin(&format!("198.51.100.{i}"))).await
                })
            }).collect();
            let mut sent = 0;
            for r in requests {
                match r.await.expect("task") {
                    Ok(_) => sent += 1,
                    Err(chronicle::Error::RateLimited(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(sent, sign_in::MAX_REQUESTS_PER_EMAIL);
            let mails = chronicle::identity::mail::recent(&store, 100).await.expect("outbox");
            assert_eq!(mails.iter().filter(|m| m.recipient == "hal@example.com").count() as i64, sign_in::MAX_REQUESTS_PER_EMAIL);
        }

        async fn parallel_requests_from_one_ipv6_network_never_pass_its_limit(store) {
            // Every request from another address of the same /64, and for another person.
            let requests: Vec<_> = (0..24u32).map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let addr = Email::parse(&format!("v6-{i}@example.com")).expect("email");
                    sign_in::request_sign_in(&store, &addr, &origin(&format!("2001:db8:7:9::{:x}", i + 1))).await
                })
            }).collect();
            let mut sent = 0;
            for r in requests {
                match r.await.expect("task") {
                    Ok(_) => sent += 1,
                    Err(chronicle::Error::RateLimited(m)) => assert!(m.contains("network"), "{m}"),
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(sent, sign_in::MAX_REQUESTS_PER_IP);
            // The next /64 is another network.
            let addr = Email::parse("v6-next@example.com").expect("email");
            sign_in::request_sign_in(&store, &addr, &origin("2001:db8:7:a::1")).await.expect("another network");
        }
    }
}

mod guesses {
    use chronicle::identity::{sign_in, Email};
    use chronicle::testing::origin;

    chronicle::engine_tests! {
        async fn codes_sprayed_across_addresses_are_bounded_per_network(store) {
            // Each request allows five wrong codes; seven addresses would allow 35.
            let mut addresses = Vec::new();
            let mut real_codes = Vec::new();
            for n in 0..7 {
                let addr = Email::parse(&format!("target{n}@example.com")).expect("email");
                let request = sign_in::request_sign_in(&store, &addr, &origin(&format!("203.0.113.{n}"))).await.expect("request");
                real_codes.push(request.code);
                addresses.push(addr);
            }
            // Wrong codes only (a fixed guess could match a random code, once in a million).
            let wrong: Vec<String> = (0..1_000_000u32).map(|n| format!("{n:06}")).filter(|c| !real_codes.contains(c)).take(sign_in::MAX_CODE_ATTEMPTS as usize).collect();
            let attacker: std::net::IpAddr = "2001:db8:66::1".parse().expect("ip");
            let mut compared = 0;
            let mut refused = None;
            'spray: for addr in &addresses {
                for guess in &wrong {
                    match sign_in::redeem_code(&store, addr, guess, Some(attacker)).await {
                        Ok(_) => panic!("a guess should not sign in"),
                        Err(e) if e.to_string().contains("not right") => compared += 1,
                        Err(chronicle::Error::RateLimited(m)) => { refused = Some(m); break 'spray; }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            assert_eq!(compared, sign_in::MAX_CODE_GUESSES_PER_IP);
            assert!(refused.expect("the network was stopped").contains("your network"));
            // Another network, and the owner with the right code, are not held up.
            let request = sign_in::request_sign_in(&store, &addresses[6], &origin("203.0.113.50")).await.expect("request");
            sign_in::redeem_code(&store, &addresses[6], &request.code, Some("192.0.2.7".parse().expect("ip"))).await.expect("signs in");
        }

        async fn codes_typed_everywhere_are_bounded_in_all(store, db) {
            let addr = Email::parse("ivy@example.com").expect("email");
            let request = sign_in::request_sign_in(&store, &addr, &origin("192.0.2.1")).await.expect("request");
            // The window is full of guesses from many networks.
            let now = chronicle::queue::now_micros();
            let fill = if db.url.starts_with("postgres") {
                format!("INSERT INTO sign_in_guesses (id, ip_hash, created_at) \
                         SELECT gen_random_uuid(), NULL, {now} FROM generate_series(1, {})", sign_in::MAX_CODE_GUESSES)
            } else {
                format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
                         INSERT INTO sign_in_guesses (id, ip_hash, created_at) SELECT randomblob(16), NULL, {now} FROM n", sign_in::MAX_CODE_GUESSES)
            };
            chronicle::testing::execute_raw(db, &fill).await.expect("fill the window");
            let err = sign_in::redeem_code(&store, &addr, &request.code, Some("192.0.2.9".parse().expect("ip"))).await.expect_err("held");
            assert!(matches!(&err, chronicle::Error::RateLimited(m) if m.contains("right now") && m.contains("link")), "{err:?}");
            // The link still works.
            sign_in::redeem_link(&store, &request.token).await.expect("the link signs in");
        }
    }

    /// A sign-in stuck inside its transaction (here: its request row held by another
    /// connection) must not hold the global guess limit's lock: codes typed for other
    /// addresses go on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_slow_sign_in_does_not_hold_up_codes_typed_elsewhere() {
        use sqlx::Connection;
        use std::time::Duration;
        let (store, db) = chronicle::testing::postgres().await;
        let slow = Email::parse("slow@example.com").expect("email");
        let quick = Email::parse("quick@example.com").expect("email");
        let slow_request = sign_in::request_sign_in(&store, &slow, &origin("192.0.2.1"))
            .await
            .expect("request");
        let quick_request = sign_in::request_sign_in(&store, &quick, &origin("192.0.2.2"))
            .await
            .expect("request");
        // Another connection holds the slow address's request row.
        let mut holder = sqlx::PgConnection::connect(&db.owner_url)
            .await
            .expect("connect");
        sqlx::raw_sql("BEGIN")
            .execute(&mut holder)
            .await
            .expect("begin");
        sqlx::query("SELECT id FROM sign_in_tokens WHERE email = $1 FOR UPDATE")
            .bind(slow.as_str())
            .fetch_all(&mut holder)
            .await
            .expect("hold the row");
        let stuck = {
            let store = store.clone();
            let code = slow_request.code.clone();
            tokio::spawn(async move {
                sign_in::redeem_code(&store, &slow, &code, Some("192.0.2.1".parse().expect("ip")))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!stuck.is_finished(), "the slow sign-in waits on its row");
        let quick_sign_in = tokio::time::timeout(
            Duration::from_secs(10),
            sign_in::redeem_code(
                &store,
                &quick,
                &quick_request.code,
                Some("192.0.2.2".parse().expect("ip")),
            ),
        )
        .await;
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut holder)
            .await
            .expect("release");
        quick_sign_in
            .expect("not held up by the slow sign-in")
            .expect("signs in");
        stuck
            .await
            .expect("join")
            .expect("the slow one signs in too, once released");
    }

    #[test]
    fn a_network_is_an_ipv4_address_or_an_ipv6_64() {
        let net = |s: &str| sign_in::client_network(s.parse().expect("ip"));
        assert_eq!(net("192.0.2.1"), "192.0.2.1");
        assert_eq!(net("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(net("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(net("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
        assert_ne!(net("2001:db8:1:3::1"), net("2001:db8:1:2::1"));
    }
}
