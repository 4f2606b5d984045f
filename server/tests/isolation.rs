//! The isolation suite: a member of team Acme tries to read and change team Zeta's
//! things by slug and by id, through every server function and every page route, and
//! is always refused (404: Zeta's existence is not even confirmed). The suite fails if
//! a server function or route exists that it does not list, so a new one cannot be
//! added without deciding how it is isolated.

mod support;

use std::collections::BTreeSet;

use chronicle::accounts::members::{self, Role};
use chronicle::identity::{sessions, Email};
use chronicle::testing::{join, team};
use support::spawn_app;

/// Server functions that act on no team or only on the caller's own things, and why.
const PERSONAL: &[(&str, &str)] = &[
    ("me", "the caller's own person"),
    ("my_teams", "the caller's own memberships (checked below)"),
    (
        "my_invitations",
        "addressed to the caller's e-mail (checked below)",
    ),
    (
        "request_sign_in",
        "before sign-in; mails only the given address",
    ),
    ("sign_in_with_code", "before sign-in"),
    ("sign_in_with_link", "before sign-in"),
    ("sign_out", "the caller's own sessions"),
    ("rename_me", "the caller's own name"),
    ("create_team", "a new team, owned by the caller"),
    (
        "dev_mailbox",
        "development only; 404 unless enabled (checked below)",
    ),
];

/// A project, board, column, card and comment in one team.
struct Things {
    project: uuid::Uuid,
    board: uuid::Uuid,
    column: uuid::Uuid,
    card: uuid::Uuid,
    comment: uuid::Uuid,
}

impl Things {
    async fn make(store: &chronicle::Store, who: &chronicle::accounts::Current) -> Things {
        let b = chronicle::testing::board(store, who).await;
        let column = b.column("To do");
        let (project, board) = (b.project, b.board);
        let card = chronicle::cards::create_card(store, who, column, "Secret plan")
            .await
            .expect("card");
        let comment = chronicle::comments::add_comment(store, who, card.id, "Psst")
            .await
            .expect("comment");
        Things {
            project: project.id,
            board: board.id,
            column,
            card: card.id,
            comment,
        }
    }
}

/// A server function and the form arguments it is called with.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>);

/// Page routes that show no team's data.
const PUBLIC_ROUTES: &[&str] = &[
    "/",
    "/sign-in",
    "/sign-in/check",
    "/sign-in/verify",
    "/dev/mailbox",
];

chronicle::engine_tests! {
    async fn a_member_of_one_team_cannot_reach_another(store) {
        let acme = team(&store, "Acme", "alice@example.com").await;
        let zeta = team(&store, "Zeta", "zoe@example.com").await;
        let zed = join(&store, &zeta, "zed@example.com", Role::Member).await;
        let zeta_invite = members::invite(&store, &zeta, &Email::parse("later@example.com").expect("email"),
            Role::Member, "http://x.test").await.expect("invite");
        let z = Things::make(&store, &zeta).await;
        let a = Things::make(&store, &acme).await;
        let zeta_events = chronicle::events::log::count(&store, zeta.account_id()).await.expect("count");
        let app = spawn_app(store.clone()).await;
        let alice = Some(sessions::start(&store, acme.user.id, None).await.expect("session").token);

        let zeta_slug = zeta.account.slug.as_str();
        let zed_id = zed.user.id.to_string();
        let invite_id = zeta_invite.id.to_string();
        let zeta_id = zeta.account_id().to_string();
        let (zp, zb, zc, zk, zm) = (z.project.to_string(), z.board.to_string(), z.column.to_string(), z.card.to_string(), z.comment.to_string());
        let (ac, ak) = (a.column.to_string(), a.card.to_string());
        // (server function, arguments aimed at Zeta): each must answer 404.
        let cases: Vec<Case> = vec![
            ("team", vec![("account", zeta_slug)]),
            ("members", vec![("account", zeta_slug)]),
            ("invite_member", vec![("account", zeta_slug), ("email", "x@example.com"), ("role", "member")]),
            ("change_member_role", vec![("account", zeta_slug), ("user_id", &zed_id), ("role", "admin")]),
            ("change_member_role", vec![("account", "acme"), ("user_id", &zed_id), ("role", "admin")]),
            ("remove_member", vec![("account", zeta_slug), ("user_id", &zed_id)]),
            ("remove_member", vec![("account", "acme"), ("user_id", &zed_id)]),
            ("revoke_invitation", vec![("account", zeta_slug), ("invitation_id", &invite_id)]),
            ("revoke_invitation", vec![("account", "acme"), ("invitation_id", &invite_id)]),
            ("accept_invitation", vec![("account_id", &zeta_id), ("invitation_id", &invite_id)]),
            ("projects", vec![("account", zeta_slug)]),
            ("activity", vec![("account", zeta_slug), ("scope", "account")]),
            ("activity", vec![("account", "acme"), ("scope", "board"), ("id", &zb)]),
            ("activity", vec![("account", "acme"), ("scope", "card"), ("id", &zk)]),
            ("activity", vec![("account", "acme"), ("scope", "project"), ("id", &zp)]),
            ("create_project", vec![("account", zeta_slug), ("name", "Intruder")]),
            ("rename_project", vec![("account", "acme"), ("project_id", &zp), ("name", "Mine")]),
            ("archive_project", vec![("account", "acme"), ("project_id", &zp), ("reason", "Because")]),
            ("create_board", vec![("account", "acme"), ("project_id", &zp), ("name", "Mine")]),
            ("board", vec![("account", "acme"), ("board_id", &zb)]),
            ("board", vec![("account", zeta_slug), ("board_id", &zb)]),
            ("add_column", vec![("account", "acme"), ("board_id", &zb), ("name", "Mine")]),
            ("rename_board", vec![("account", "acme"), ("board_id", &zb), ("name", "Mine")]),
            ("rename_column", vec![("account", "acme"), ("column_id", &zc), ("name", "Mine")]),
            ("move_column", vec![("account", "acme"), ("column_id", &zc), ("position", "1")]),
            ("delete_column", vec![("account", "acme"), ("column_id", &zc)]),
            ("archive_column_cards", vec![("account", "acme"), ("column_id", &zc)]),
            ("card", vec![("account", "acme"), ("card_id", &zk)]),
            ("create_card", vec![("account", "acme"), ("column_id", &zc), ("title", "Mine")]),
            ("move_card", vec![("account", "acme"), ("card_id", &zk), ("column_id", &ac), ("position", "0")]),
            ("move_card", vec![("account", "acme"), ("card_id", &ak), ("column_id", &zc), ("position", "0")]),
            ("update_card", vec![("account", "acme"), ("card_id", &zk), ("version", "1"), ("title", "Mine"),
                ("description", ""), ("assignee_id", ""), ("due_date", "")]),
            ("set_card_status", vec![("account", "acme"), ("card_id", &zk), ("status", "done")]),
            ("archive_card", vec![("account", "acme"), ("card_id", &zk)]),
            ("restore_card", vec![("account", "acme"), ("card_id", &zk)]),
            ("delete_card", vec![("account", "acme"), ("card_id", &zk)]),
            ("add_comment", vec![("account", "acme"), ("card_id", &zk), ("body", "Hello")]),
            ("edit_comment", vec![("account", "acme"), ("comment_id", &zm), ("body", "Mine")]),
            ("delete_comment", vec![("account", "acme"), ("comment_id", &zm)]),
            ("set_subscribed", vec![("account", "acme"), ("card_id", &zk), ("subscribed", "true")]),
        ];
        let mut covered: BTreeSet<String> = BTreeSet::new();
        for (name, args) in &cases {
            let res = app.call(name, args, &alice).await;
            assert_eq!(res.status(), 404, "{name} {args:?}");
            let body: serde_json::Value = res.json().await.expect("json");
            assert_eq!(body["kind"], "not_found", "{name}: {body}");
            covered.insert(format!("/api/{name}"));
        }

        // The personal functions show Alice nothing of Zeta's.
        let teams: serde_json::Value = app.call("my_teams", &[], &alice).await.json().await.expect("json");
        assert_eq!(teams.as_array().map(Vec::len), Some(1), "{teams}");
        assert_eq!(teams[0]["slug"], "acme");
        let invites: serde_json::Value = app.call("my_invitations", &[], &alice).await.json().await.expect("json");
        assert_eq!(invites, serde_json::json!([]));
        assert_eq!(app.call("dev_mailbox", &[], &alice).await.status(), 404);
        for (name, _) in PERSONAL {
            covered.insert(format!("/api/{name}"));
        }

        // Every registered server function is covered, and nothing listed is stale.
        let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path.to_owned())
            .collect();
        let missing: Vec<_> = registered.difference(&covered).collect();
        assert!(missing.is_empty(), "server functions not in the isolation suite: {missing:?}");
        let stale: Vec<_> = covered.difference(&registered).collect();
        assert!(stale.is_empty(), "listed but not registered: {stale:?}");

        // Pages: every route with a team in it refuses Zeta; every other route is public.
        let routes = chronicle_server::routes();
        for route in routes.iter().map(|r| r.path().to_owned()) {
            // axum 0.8 writes parameters as `{account}`.
            let with = |slug: &str, t: &Things| {
                route.replace("{account}", slug).replace("{board}", &t.board.to_string())
                    .replace("{card}", &t.card.to_string())
            };
            if route.contains('{') {
                let path = with(zeta_slug, &z);
                let res = app.get(&path, &alice).await;
                assert_eq!(res.status(), 404, "{path}");
                let html = res.text().await.expect("html");
                assert!(!html.contains("zed@example.com") && !html.contains("Zeta") && !html.contains("Psst"),
                    "{path} leaks: {html}");
                // …while Alice's own team answers.
                let own = with("acme", &a);
                assert_eq!(app.get(&own, &alice).await.status(), 200, "{own}");
            } else {
                assert!(PUBLIC_ROUTES.contains(&route.as_str()), "route {route} is not in the isolation suite");
            }
        }

        // And nothing of Zeta's changed.
        assert_eq!(chronicle::events::log::count(&store, zeta.account_id()).await.expect("count"), zeta_events);
        assert_eq!(members::list_members(&store, &zeta).await.expect("members").len(), 2);
        assert_eq!(members::open_invitations(&store, &zeta).await.expect("open").len(), 1);
        let view = chronicle::boards::board_view(&store, &zeta, z.board).await.expect("zeta board");
        assert_eq!(view.columns.len(), 3);
        assert_eq!(view.columns[0].1.len(), 1, "Zeta's card is where it was");
    }

    async fn roles_are_enforced_over_http(store) {
        let acme = team(&store, "Acme", "alice@example.com").await;
        let bob = join(&store, &acme, "bob@example.com", Role::Member).await;
        let app = spawn_app(store.clone()).await;
        let bob_session = Some(sessions::start(&store, bob.user.id, None).await.expect("session").token);
        let alice_id = acme.user.id.to_string();
        for (name, args) in [
            ("invite_member", vec![("account", "acme"), ("email", "x@example.com"), ("role", "member")]),
            ("change_member_role", vec![("account", "acme"), ("user_id", alice_id.as_str()), ("role", "member")]),
            ("remove_member", vec![("account", "acme"), ("user_id", alice_id.as_str())]),
        ] {
            let res = app.call(name, &args, &bob_session).await;
            assert_eq!(res.status(), 403, "{name}");
            let body: serde_json::Value = res.json().await.expect("json");
            assert!(body["message"].as_str().unwrap_or_default().contains("owners and admins"), "{body}");
        }
        // Members may look, not manage: the list is there, invitations are not.
        let data: serde_json::Value = app.call("members", &[("account", "acme")], &bob_session).await.json().await.expect("json");
        assert_eq!(data["members"].as_array().map(Vec::len), Some(2));
        assert_eq!(data["invitations"], serde_json::json!([]));
    }
}
