//! The server over real HTTP on a random port: health, pages rendered on the server,
//! sign-in from request to cookie to sign-out, and the cross-site request check.

mod support;

use support::{location, session_cookie, spawn_app, spawn_app_with};

chronicle::engine_tests! {
    async fn health_reports_engine_migration_and_version(store) {
        let engine = store.engine().to_string();
        let latest = store.latest_migration();
        let app = spawn_app(store).await;
        let res = app.get("/healthz", &None).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["database"]["engine"], engine.as_str());
        assert_eq!(body["database"]["migration_version"], serde_json::json!(latest));
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }

    async fn a_person_signs_in_creates_a_team_and_signs_out(store) {
        let app = spawn_app(store.clone()).await;
        let res = app.call("request_sign_in", &[("email", "Ana@Example.com")], &None).await;
        assert_eq!(res.status(), 200);
        assert_eq!(location(&res), Some("/sign-in/check?email=ana%40example.com"));

        let token = support::latest_link_token(&store, "ana@example.com").await;
        let res = app.call("sign_in_with_link", &[("token", &token)], &None).await;
        assert_eq!(location(&res), Some("/"));
        let cookie = res.headers().get("set-cookie").expect("cookie").to_str().expect("ascii").to_owned();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain http: no Secure flag ({cookie})");
        let session = session_cookie(&res);
        assert!(session.is_some());

        let res = app.call("create_team", &[("name", "Acme Design")], &session).await;
        assert_eq!(res.status(), 200);
        assert_eq!(location(&res), Some("/acme-design"));

        let html = app.get("/", &session).await.text().await.expect("html");
        assert!(html.contains("Your teams"), "{html}");
        assert!(html.contains(r#"data-slug="acme-design""#), "{html}");
        let res = app.get("/acme-design", &session).await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.expect("html").contains("Acme Design"));

        // The link was spent.
        let res = app.call("sign_in_with_link", &[("token", &token)], &None).await;
        assert_eq!(res.status(), 422);
        let body: serde_json::Value = res.json().await.expect("json");
        assert!(body["message"].as_str().unwrap_or_default().contains("already been used"), "{body}");

        let res = app.call("sign_out", &[], &session).await;
        assert_eq!(location(&res), Some("/sign-in"));
        let cleared = res.headers().get("set-cookie").expect("cookie").to_str().expect("ascii").to_owned();
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        let res = app.call("my_teams", &[], &session).await;
        assert_eq!(res.json::<serde_json::Value>().await.expect("json"), serde_json::json!([]));
        let res = app.get("/acme-design", &session).await;
        assert_eq!(res.status(), 401, "the old cookie signs nobody in");
    }

    async fn changes_from_another_site_are_refused_and_write_nothing(store) {
        let app = spawn_app(store.clone()).await;
        let session = app.sign_in("ana@example.com").await;
        let cookie = format!("chronicle_session={}", session.clone().unwrap_or_default());
        let url = format!("{}/api/create_team", app.base);
        let attempts = [
            vec![],
            vec![("origin", "http://evil.example")],
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site"), ("origin", "http://evil.example")],
        ];
        for headers in attempts {
            let mut req = app.client.post(&url).header("cookie", &cookie).form(&[("name", "Forged")]);
            for (k, v) in &headers {
                req = req.header(*k, *v);
            }
            let res = req.send().await.expect("POST");
            assert_eq!(res.status(), 403, "{headers:?}");
            let body: serde_json::Value = res.json().await.expect("json");
            assert_eq!(body["kind"], "forbidden");
            assert!(body["message"].as_str().unwrap_or_default().contains("cross-site"), "{body}");
        }
        let res = app.client.post(&url).header("cookie", &cookie)
            .header("sec-fetch-site", "same-origin").form(&[("name", "Real")]).send().await.expect("POST");
        assert_eq!(res.status(), 200);
        let names: Vec<String> = chronicle::accounts::list_accounts(&store).await.expect("list")
            .into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["Real"]);
    }
}

#[tokio::test]
async fn the_start_page_is_rendered_on_the_server_with_hydration_scripts() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store).await;
    let res = app.get("/", &None).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<title>Chronicle</title>"), "{html}");
    assert!(html.contains("Sign in or sign up"), "{html}");
    // The hydration script loads the WASM bundle by its cargo-leptos output name.
    assert!(html.contains("/pkg/chronicle.js"), "{html}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store.clone()).await;
    let session = app.sign_in("ana@example.com").await;
    let res = app.call("create_team", &[("name", "   ")], &session).await;
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.expect("json error body");
    assert_eq!(body["kind"], "invalid");
    assert_eq!(body["field"], "name");
    assert_eq!(body["message"], "the account needs a name");
    let res = app
        .call("create_team", &[("name", &"x".repeat(81))], &session)
        .await;
    assert_eq!(res.status(), 422);

    for email in [
        "",
        "not-an-address",
        "a@b",
        &format!("{}@example.com", "x".repeat(260)),
    ] {
        let res = app
            .call("request_sign_in", &[("email", email)], &None)
            .await;
        assert_eq!(res.status(), 422, "{email:?}");
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["field"], "email");
    }
    let res = app
        .call(
            "sign_in_with_code",
            &[("email", "ana@example.com"), ("code", "12")],
            &None,
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = app
        .call("sign_in_with_link", &[("token", "forged")], &None)
        .await;
    assert_eq!(res.status(), 422);
    assert!(chronicle::accounts::list_accounts(&store)
        .await
        .expect("list")
        .is_empty());

    // A malformed call is the caller's fault too.
    let res = app
        .client
        .post(format!("{}/api/create_team", app.base))
        .header("origin", &app.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nonsense=%ZZ")
        .send()
        .await
        .expect("POST");
    assert!(res.status().is_client_error(), "{}", res.status());
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app_with(store.clone(), |s| {
        s.site.public_url = "https://chronicle.example.com".into();
    })
    .await;
    // Changes are accepted from the public origin only.
    app.client
        .post(format!("{}/api/request_sign_in", app.base))
        .header("origin", "https://chronicle.example.com")
        .form(&[("email", "ivy@example.com")])
        .send()
        .await
        .expect("POST");
    let mail = chronicle::identity::mail::recent(&store, 1)
        .await
        .expect("outbox");
    assert!(
        mail[0]
            .body
            .contains("https://chronicle.example.com/sign-in/verify?token="),
        "links use the public URL"
    );
    let token = support::latest_link_token(&store, "ivy@example.com").await;
    let res = app
        .client
        .post(format!("{}/api/sign_in_with_link", app.base))
        .header("origin", "https://chronicle.example.com")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("POST");
    let cookie = res
        .headers()
        .get("set-cookie")
        .expect("cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

#[tokio::test]
async fn forged_and_missing_sessions_are_signed_out() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store).await;
    for session in [None, Some("forged".to_owned()), Some("A".repeat(43))] {
        let res = app.call("create_team", &[("name", "Acme")], &session).await;
        assert_eq!(res.status(), 401, "{session:?}");
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["kind"], "unauthenticated");
        assert_eq!(app.get("/acme", &session).await.status(), 401);
    }
}

#[tokio::test]
async fn sign_in_requests_are_rate_limited_with_429() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store).await;
    for _ in 0..chronicle::identity::sign_in::MAX_REQUESTS_PER_EMAIL {
        let res = app
            .call("request_sign_in", &[("email", "bob@example.com")], &None)
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .call("request_sign_in", &[("email", "bob@example.com")], &None)
        .await;
    assert_eq!(res.status(), 429);
    let body: serde_json::Value = res.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too many"),
        "{body}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_per_ip_limit_uses_the_forwarded_address() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let request = |app: &support::TestServer, n: usize, forwarded: &'static str| {
        app.client
            .post(format!("{}/api/request_sign_in", app.base))
            .header("origin", &app.base)
            .header("x-forwarded-for", forwarded)
            .form(&[("email", format!("p{n}@example.com"))])
            .send()
    };
    // Trusted: two clients behind the proxy have a limit each.
    let proxied = spawn_app_with(store.clone(), |s| s.site.trust_proxy = true).await;
    let per_ip = chronicle::identity::sign_in::MAX_REQUESTS_PER_IP as usize;
    for n in 0..per_ip {
        assert_eq!(
            request(&proxied, n, "198.51.100.1, 203.0.113.10")
                .await
                .expect("POST")
                .status(),
            200
        );
    }
    let limited = request(&proxied, 100, "203.0.113.10").await.expect("POST");
    assert_eq!(
        limited.status(),
        429,
        "the same forwarded client is limited"
    );
    let other = request(&proxied, 101, "203.0.113.11").await.expect("POST");
    assert_eq!(
        other.status(),
        200,
        "another client behind the proxy is not"
    );
    // Not trusted (the default): the header is ignored, and all of it is one peer.
    let direct = spawn_app(store).await;
    let mut statuses = Vec::new();
    for n in 0..=per_ip {
        // A different forged address on every request.
        let forged: &'static str = if n % 2 == 0 {
            "192.0.2.98"
        } else {
            "192.0.2.99"
        };
        statuses.push(
            request(&direct, 200 + n, forged)
                .await
                .expect("POST")
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses.last(),
        Some(&429),
        "forged X-Forwarded-For must not escape the limit: {statuses:?}"
    );
}

#[tokio::test]
async fn the_code_from_the_mail_signs_in_too() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store.clone()).await;
    app.call("request_sign_in", &[("email", "cy@example.com")], &None)
        .await;
    let mail = chronicle::identity::mail::recent(&store, 1)
        .await
        .expect("outbox");
    let code = mail[0]
        .subject
        .rsplit(' ')
        .next()
        .expect("code in subject")
        .to_owned();
    let res = app
        .call(
            "sign_in_with_code",
            &[("email", "cy@example.com"), ("code", &code)],
            &None,
        )
        .await;
    assert_eq!(location(&res), Some("/"));
    assert!(session_cookie(&res).is_some());
}

/// The `chronicle_next` cookie a response sets (its value), if any.
fn next_cookie(res: &reqwest::Response) -> Option<String> {
    support::set_cookie(res, "chronicle_next")
}

#[tokio::test]
async fn signing_in_leads_to_the_page_asked_for_and_never_off_the_site() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store.clone()).await;
    let sign_in = |cookie: Option<String>| {
        let (app, store) = (&app, &store);
        async move {
            let token = support::latest_link_token(store, "ivy@example.com").await;
            let mut req = app
                .client
                .post(format!("{}/api/sign_in_with_link", app.base))
                .header("origin", &app.base)
                .form(&[("token", token.as_str())]);
            if let Some(c) = cookie {
                req = req.header("cookie", format!("chronicle_next={c}"));
            }
            req.send().await.expect("POST")
        }
    };
    let request = |next: &'static str| {
        let app = &app;
        async move {
            app.call(
                "request_sign_in",
                &[("email", "ivy@example.com"), ("next", next)],
                &None,
            )
            .await
        }
    };
    let wanted = "/acme/activity?who=mine&types=card.moved%2Ccard.created";
    let res = request(wanted).await;
    assert_eq!(res.status(), 200);
    let remembered = next_cookie(&res).expect("next cookie");
    assert_eq!(remembered, wanted);
    let res = sign_in(Some(remembered)).await;
    assert_eq!(location(&res), Some(wanted));
    assert!(session_cookie(&res).is_some());
    assert_eq!(
        next_cookie(&res).as_deref(),
        Some(""),
        "forgotten once used"
    );

    // Off-site or odd targets are not remembered, and not followed if sent anyway.
    for bad in ["//evil.example/", "https://evil.example/", "/a\\b", "/a b"] {
        let res = request(bad).await;
        assert_eq!(res.status(), 200, "{bad}");
        assert_eq!(next_cookie(&res), None, "{bad}");
    }
    let res = sign_in(Some("//evil.example/".into())).await;
    assert_eq!(location(&res), Some("/"));
}

#[tokio::test]
async fn the_dev_mailbox_is_off_unless_enabled() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let off = spawn_app(store.clone()).await;
    off.call("request_sign_in", &[("email", "dee@example.com")], &None)
        .await;
    assert_eq!(off.get("/dev/mailbox", &None).await.status(), 404);
    assert_eq!(off.call("dev_mailbox", &[], &None).await.status(), 404);

    let on = spawn_app_with(store, |s| s.site.dev_mailbox = true).await;
    let res = on.get("/dev/mailbox", &None).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.contains("dee@example.com"), "{html}");
    assert!(html.contains("/sign-in/verify?token="), "{html}");
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store).await;
    let laptop = app.sign_in("fay@example.com").await;
    let phone = app.sign_in("fay@example.com").await;
    assert_ne!(laptop, phone);
    let res = app
        .call("sign_out", &[("everywhere", "yes")], &laptop)
        .await;
    assert_eq!(location(&res), Some("/sign-in"));
    for session in [&laptop, &phone] {
        let me: serde_json::Value = app
            .call("me", &[], session)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(me, serde_json::Value::Null, "{session:?} still signs in");
    }
}

#[tokio::test]
async fn an_unknown_page_is_a_404() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let app = spawn_app(store).await;
    let res = app.get("/no/such/page", &None).await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.expect("html").contains("Page not found"));
}
