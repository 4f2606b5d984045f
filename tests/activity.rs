//! The activity feed: scopes, filters, keyset pages, isolation and rebuilding.

use chronicle::accounts::AccountId;
use chronicle::activity::{self, FeedQuery, FeedScope};
use chronicle::events::catalog::*;
use chronicle::events::{record, Actor, RecordOptions};
use chronicle::testing::{account, card_moved, member};
use chronicle::Store;
use uuid::Uuid;

struct Board {
    project: Uuid,
    board: Uuid,
}

fn card_on(b: &Board, title: &str) -> CardRef {
    CardRef {
        id: Uuid::now_v7(),
        title: title.to_owned(),
        board_id: b.board,
        project_id: b.project,
    }
}

async fn rec<E: chronicle::events::DomainEvent>(
    store: &Store,
    account: AccountId,
    actor: &Actor,
    e: &E,
) {
    let mut tx = store.begin().await.expect("begin");
    record(&mut tx, account, actor, e, RecordOptions::default())
        .await
        .expect("record");
    tx.commit().await.expect("commit");
}

fn descriptions(items: &[activity::ActivityItem]) -> Vec<String> {
    items.iter().map(|i| i.description.clone()).collect()
}

chronicle::engine_tests! {
    async fn feeds_are_scoped_filtered_and_newest_first(store) {
        let acme = account(&store, "Acme").await;
        let ana = member("Ana");
        let bob = member("Bob");
        let web = Board { project: Uuid::now_v7(), board: Uuid::now_v7() };
        let app = Board { project: Uuid::now_v7(), board: Uuid::now_v7() };
        let login = card_on(&web, "Fix login");
        let logo = card_on(&app, "New logo");
        rec(&store, acme.id, &ana, &card_moved(&login)).await;
        rec(&store, acme.id, &bob, &card_moved(&logo)).await;
        rec(&store, acme.id, &bob, &CommentAdded { comment_id: Uuid::now_v7(), card: login.clone(), body: "On it".into() }).await;

        let all = activity::feed(&store, acme.id, &FeedQuery::new(FeedScope::Account)).await.expect("feed");
        assert_eq!(descriptions(&all), [
            "Bob commented on Fix login",
            "Bob moved New logo from To do to Doing",
            "Ana moved Fix login from To do to Doing",
            "Chronicle created the team Acme",
        ]);
        assert_eq!(all[0].icon, "message-square");

        let board = activity::feed(&store, acme.id, &FeedQuery::new(FeedScope::Board(web.board))).await.expect("feed");
        assert_eq!(board.len(), 2);
        let project = activity::feed(&store, acme.id, &FeedQuery::new(FeedScope::Project(app.project))).await.expect("feed");
        assert_eq!(descriptions(&project), ["Bob moved New logo from To do to Doing"]);
        let card = activity::feed(&store, acme.id, &FeedQuery::new(FeedScope::Card(login.id))).await.expect("feed");
        assert_eq!(card.len(), 2);
        let mine = activity::feed(&store, acme.id, &FeedQuery::new(FeedScope::Creator(ana.id().expect("id")))).await.expect("feed");
        assert_eq!(descriptions(&mine), ["Ana moved Fix login from To do to Doing"]);

        let mut moves = FeedQuery::new(FeedScope::Account);
        moves.types = vec!["card.moved".into()];
        assert_eq!(activity::feed(&store, acme.id, &moves).await.expect("feed").len(), 2);

        let mut future = FeedQuery::new(FeedScope::Account);
        future.since = Some(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
        assert!(activity::feed(&store, acme.id, &future).await.expect("feed").is_empty());
        let mut past = FeedQuery::new(FeedScope::Account);
        past.until = Some(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
        past.since = Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1));
        assert_eq!(activity::feed(&store, acme.id, &past).await.expect("feed").len(), 4);
    }

    async fn load_older_pages_by_keyset_without_gaps_or_repeats(store) {
        let acme = account(&store, "Acme").await;
        let b = Board { project: Uuid::now_v7(), board: Uuid::now_v7() };
        for i in 0..25 {
            rec(&store, acme.id, &member("Ana"), &card_moved(&card_on(&b, &format!("Card {i}")))).await;
        }
        let mut query = FeedQuery::new(FeedScope::Board(b.board));
        query.limit = 10;
        let mut seen = Vec::new();
        loop {
            let page = activity::feed(&store, acme.id, &query).await.expect("page");
            let Some(last) = page.last() else { break };
            query.before = Some(last.sequence);
            seen.extend(page.iter().map(|i| i.sequence));
        }
        assert_eq!(seen, (2..=26).rev().collect::<Vec<i64>>());
        // Catching up after a sequence.
        let mut newer = FeedQuery::new(FeedScope::Account);
        newer.after = Some(24);
        assert_eq!(activity::feed(&store, acme.id, &newer).await.expect("feed").len(), 2);
    }

    async fn another_accounts_activity_never_shows(store) {
        let a = account(&store, "Alpha").await;
        let b = account(&store, "Beta").await;
        let theirs = Board { project: Uuid::now_v7(), board: Uuid::now_v7() };
        let secret = card_on(&theirs, "Beta's secret");
        rec(&store, b.id, &member("Bea"), &card_moved(&secret)).await;
        for scope in [
            FeedScope::Account,
            FeedScope::Board(theirs.board),
            FeedScope::Project(theirs.project),
            FeedScope::Card(secret.id),
        ] {
            let items = activity::feed(&store, a.id, &FeedQuery::new(scope)).await.expect("feed");
            assert!(items.iter().all(|i| !i.description.contains("secret")), "{scope:?}: {items:?}");
        }
        assert_eq!(activity::feed(&store, a.id, &FeedQuery::new(FeedScope::Account)).await.expect("feed").len(), 1);
    }

    async fn the_projection_is_rebuilt_from_the_log(store) {
        let acme = account(&store, "Acme").await;
        let b = Board { project: Uuid::now_v7(), board: Uuid::now_v7() };
        for i in 0..7 {
            rec(&store, acme.id, &member("Ana"), &card_moved(&card_on(&b, &format!("Card {i}")))).await;
        }
        let before = activity::feed(&store, acme.id, &FeedQuery::new(FeedScope::Account)).await.expect("feed");
        let mut calls = Vec::new();
        let written = activity::rebuild(&store, acme.id, 3, |done, total| calls.push((done, total))).await.expect("rebuild");
        assert_eq!(written, 8);
        assert_eq!(calls, [(3, 8), (6, 8), (8, 8)]);
        let after = activity::feed(&store, acme.id, &FeedQuery::new(FeedScope::Account)).await.expect("feed");
        assert_eq!(before, after);
    }
}
