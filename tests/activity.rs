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

/// An event kept out of the feeds, as bookkeeping events are.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Housekeeping {
    card: Uuid,
}

impl chronicle::events::DomainEvent for Housekeeping {
    const TYPE: &'static str = "test.housekeeping";
    fn subject(&self) -> chronicle::events::Subject {
        chronicle::events::Subject::new(chronicle::events::SubjectKind::Card, self.card)
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} tidied up")
    }
    fn user_facing(&self) -> bool {
        false
    }
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

    // Activity rows are copied from the events a transaction wrote, by runs of
    // consecutive user-facing events per team: a run must break at an event kept out
    // of the feeds and at another team's events.
    async fn one_transaction_over_two_teams_writes_activity_for_user_facing_events_only(store) {
        let acme = account(&store, "Acme").await;
        let beta = account(&store, "Beta").await;
        let b = Board { project: Uuid::now_v7(), board: Uuid::now_v7() };
        let ana = member("Ana");
        let mut tx = store.begin().await.expect("begin");
        let mut recorded = Vec::new();
        for (team, event) in [(acme.id, "move"), (acme.id, "housekeeping"), (acme.id, "move"), (beta.id, "move"),
                              (acme.id, "move"), (acme.id, "housekeeping"), (beta.id, "move")] {
            let card = card_on(&b, &format!("Card {}", recorded.len()));
            let outcome = if event == "move" {
                record(&mut tx, team, &ana, &card_moved(&card), RecordOptions::default()).await
            } else {
                record(&mut tx, team, &ana, &Housekeeping { card: card.id }, RecordOptions::default()).await
            };
            recorded.push((team, event, outcome.expect("record").sequence().expect("recorded")));
        }
        tx.commit().await.expect("commit");

        for team in [acme.id, beta.id] {
            let mut query = FeedQuery::new(FeedScope::Account);
            query.after = Some(1);
            query.oldest_first = true;
            let items = activity::feed(&store, team, &query).await.expect("feed");
            let expected: Vec<i64> = recorded.iter()
                .filter(|(t, e, _)| *t == team && *e == "move")
                .map(|(_, _, s)| *s)
                .collect();
            assert_eq!(items.iter().map(|i| i.sequence).collect::<Vec<_>>(), expected, "{team:?}");
            assert!(items.iter().all(|i| i.description.starts_with("Ana moved Card ")), "{items:?}");
            assert!(items.iter().all(|i| i.scope.board == Some(b.board) && i.scope.project == Some(b.project)), "{items:?}");
        }
    }

    // Over a thousand runs in one statement: a transaction alternating between two teams
    // with events no inbox takes (22 binds each, so ~1,360 fit one statement). SQLite
    // refuses a WHERE of a thousand ORs (expression depth), so there each run is a
    // statement of its own.
    async fn a_transaction_of_many_short_runs_writes_all_their_activity(store, db) {
        let acme = account(&store, "Acme").await;
        let beta = account(&store, "Beta").await;
        let ana = member("Ana");
        let mut tx = store.begin().await.expect("begin");
        for i in 0..2400 {
            let team = if i % 2 == 0 { acme.id } else { beta.id };
            let project = ProjectCreated { project: ProjectRef { id: Uuid::now_v7(), name: format!("Project {i}") } };
            record(&mut tx, team, &ana, &project, RecordOptions::default()).await.expect("record");
        }
        tx.commit().await.expect("commit");
        for team in [acme.id, beta.id] {
            let count = chronicle::testing::query_i64(
                db,
                &format!("SELECT count(*) FROM activities WHERE event_type = 'project.created' AND account_id = {}",
                    match store.engine() {
                        chronicle::store::Engine::Sqlite => format!("x'{}'", team.0.simple()),
                        chronicle::store::Engine::Postgres => format!("'{}'", team.0),
                    }),
            ).await;
            assert_eq!(count, 1200, "{team:?}");
        }
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

mod filters {
    use chronicle::activity::{feed, FeedQuery, FeedScope};
    use chronicle::testing::{join, team};

    chronicle::engine_tests! {
        async fn mine_team_my_items_and_replay_order(store) {
            let ana = team(&store, "Acme", "ana@example.com").await;
            let bob = join(&store, &ana, "bob@example.com", chronicle::accounts::Role::Member).await;
            let project = chronicle::projects::create_project(&store, &ana, "Web").await.expect("project");
            let board = chronicle::boards::create_board(&store, &ana, project.id, "Launch").await.expect("board");
            let todo = chronicle::boards::board_view(&store, &ana, board.id).await.expect("view").columns[0].0.id;
            let anas = chronicle::cards::create_card(&store, &ana, todo, "Ana's card").await.expect("card");
            let bobs = chronicle::cards::create_card(&store, &bob, todo, "Bob's card").await.expect("card");
            chronicle::comments::add_comment(&store, &bob, anas.id, "Nice").await.expect("comment");

            let run = |q: FeedQuery| { let store = store.clone(); let acc = ana.account_id(); async move {
                feed(&store, acc, &q).await.expect("feed").into_iter().map(|i| i.description).collect::<Vec<_>>()
            }};
            let mut mine = FeedQuery::new(FeedScope::Board(board.id));
            mine.creator = Some(bob.user.id.0);
            assert_eq!(run(mine).await, ["Bob commented on Ana's card", "Bob added Bob's card to To do"]);

            let mut team_q = FeedQuery::new(FeedScope::Board(board.id));
            team_q.exclude_creator = Some(bob.user.id.0);
            assert!(run(team_q).await.iter().all(|d| !d.starts_with("Bob")));

            // Ana follows her card (creator); Bob follows his and the one he commented on.
            let mut followed = FeedQuery::new(FeedScope::Account);
            followed.followed_by = Some(ana.user.id.0);
            let ana_items = run(followed).await;
            assert!(ana_items.iter().all(|d| d.contains("Ana's card")), "{ana_items:?}");
            assert_eq!(ana_items.len(), 2);
            let mut followed = FeedQuery::new(FeedScope::Account);
            followed.followed_by = Some(bob.user.id.0);
            assert_eq!(run(followed).await.len(), 3);
            let _ = bobs;

            // Replay order: oldest first after a cursor.
            let mut all = FeedQuery::new(FeedScope::Board(board.id));
            all.oldest_first = true;
            all.after = Some(0);
            let seqs: Vec<i64> = feed(&store, ana.account_id(), &all).await.expect("feed").iter().map(|i| i.sequence).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        }
    }
}

mod in_memory {
    use chronicle::activity::{feed, FeedQuery, FeedScope};
    use chronicle::testing::{join, team};

    chronicle::engine_tests! {
        // The live stream filters in memory what the database filters for pages: both
        // must agree on every item, for every scope and filter.
        async fn in_memory_matching_agrees_with_the_database(store) {
            let ana = team(&store, "Acme", "ana@example.com").await;
            let bob = join(&store, &ana, "bob@example.com", chronicle::accounts::Role::Member).await;
            let p = chronicle::projects::create_project(&store, &ana, "Web").await.expect("project");
            let b1 = chronicle::boards::create_board(&store, &ana, p.id, "One").await.expect("board");
            let b2 = chronicle::boards::create_board(&store, &bob, p.id, "Two").await.expect("board");
            let c1 = chronicle::boards::board_view(&store, &ana, b1.id).await.expect("view").columns[0].0.id;
            let c2 = chronicle::boards::board_view(&store, &ana, b2.id).await.expect("view").columns[1].0.id;
            let k1 = chronicle::cards::create_card(&store, &ana, c1, "K1").await.expect("card");
            chronicle::cards::create_card(&store, &bob, c2, "K2").await.expect("card");
            chronicle::cards::move_card(&store, &bob, k1.id, c1, 0).await.ok();
            chronicle::comments::add_comment(&store, &bob, k1.id, "hi").await.expect("comment");

            let all = feed(&store, ana.account_id(), &{ let mut q = FeedQuery::new(FeedScope::Account); q.limit = 200; q })
                .await.expect("all");
            let mut queries = Vec::new();
            for scope in [FeedScope::Account, FeedScope::Project(p.id), FeedScope::Board(b1.id),
                          FeedScope::Board(b2.id), FeedScope::Card(k1.id), FeedScope::Creator(bob.user.id.0)] {
                queries.push(FeedQuery::new(scope));
                let mut q = FeedQuery::new(scope); q.creator = Some(ana.user.id.0); queries.push(q);
                let mut q = FeedQuery::new(scope); q.exclude_creator = Some(ana.user.id.0); queries.push(q);
                let mut q = FeedQuery::new(scope); q.types = vec!["card.created".into(), "comment.added".into()]; queries.push(q);
            }
            for mut q in queries {
                q.limit = 200;
                let from_db: Vec<i64> = feed(&store, ana.account_id(), &q).await.expect("feed").iter().map(|i| i.sequence).collect();
                let in_memory: Vec<i64> = all.iter().filter(|i| q.matches(i) == Some(true)).map(|i| i.sequence).collect();
                assert_eq!(from_db, in_memory, "{:?}", q.scope);
            }
            let mut mine = FeedQuery::new(FeedScope::Account);
            mine.followed_by = Some(ana.user.id.0);
            assert_eq!(mine.matches(&all[0]), None, "my items needs the database");
        }
    }
}

/// A commit announces the activity it recorded, so a live timeline need not read it back:
/// exactly what a feed reads after the commit's first sequence, in-process and — on
/// PostgreSQL — to another node through `NOTIFY`. A commit with more than
/// `CARRIED_ITEMS` items announces only where it ends.
mod announced {
    use super::*;
    use chronicle::activity::CARRIED_ITEMS;
    use chronicle::store::Committed;
    use std::time::Duration;
    use tokio::sync::broadcast::Receiver;

    /// The next announcement of `account`'s commit ending at `last`.
    async fn heard(commits: &mut Receiver<Committed>, account: AccountId, last: i64) -> Committed {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match commits.recv().await {
                    Ok(c) if c.account == account && c.last_sequence == last => return c,
                    Ok(_) => continue,
                    Err(e) => panic!("announcements ended: {e}"),
                }
            }
        })
        .await
        .expect("the commit was announced")
    }

    async fn record_in_one_commit(
        store: &Store,
        account: AccountId,
        events: &[&dyn chronicle::events::AnyEvent],
    ) -> i64 {
        let mut tx = store.begin().await.expect("begin");
        let mut last = 0;
        for e in events {
            let out = chronicle::events::record::record_any(
                &mut tx,
                account,
                &member("Ana"),
                *e,
                RecordOptions::default(),
            )
            .await
            .expect("record");
            if let chronicle::events::RecordOutcome::Recorded { sequence, .. } = out {
                last = sequence;
            }
        }
        tx.commit().await.expect("commit");
        last
    }

    async fn read_after(
        store: &Store,
        account: AccountId,
        after: i64,
    ) -> Vec<activity::ActivityItem> {
        let mut q = FeedQuery::new(FeedScope::Account);
        q.after = Some(after);
        q.oldest_first = true;
        q.limit = 200;
        activity::feed(store, account, &q).await.expect("feed")
    }

    chronicle::engine_tests! {
        async fn a_small_commit_announces_what_the_feed_reads_back(store, db) {
            let acme = account(&store, "Acme").await;
            let b = Board { project: Uuid::now_v7(), board: Uuid::now_v7() };
            let login = card_on(&b, "Fix login");
            // A second node on the same database (PostgreSQL only: SQLite has one node).
            let other = Store::open(&db.url).await.expect("second node");
            let mut other_heard = other.subscribe();
            let relay = other.relay_cluster_commits();
            if relay.is_some() {
                // Wait until the second node listens: commit until it hears any of them.
                let mut listening = false;
                for _ in 0..100 {
                    record_in_one_commit(&store, acme.id, &[&Housekeeping { card: login.id }]).await;
                    let any = tokio::time::timeout(Duration::from_millis(200), async {
                        loop {
                            match other_heard.recv().await {
                                Ok(c) if c.account == acme.id => return,
                                Ok(_) => continue,
                                Err(e) => panic!("announcements ended: {e}"),
                            }
                        }
                    });
                    if any.await.is_ok() {
                        listening = true;
                        break;
                    }
                }
                assert!(listening, "the second node never heard a commit");
            }
            let mut here = store.subscribe();
            let before = chronicle::activity::latest_sequence(&store, acme.id).await.expect("head");

            let comment = CommentAdded { comment_id: Uuid::now_v7(), card: login.clone(), body: "On it".into() };
            let last = record_in_one_commit(&store, acme.id, &[&card_moved(&login), &Housekeeping { card: login.id }, &comment]).await;
            assert_eq!(last, before + 3);
            let c = heard(&mut here, acme.id, last).await;
            let carried = c.activity.as_deref().expect("a small commit carries its activity");
            assert_eq!(carried.after, before);
            let read = read_after(&store, acme.id, before).await;
            assert_eq!(descriptions(&read), ["Ana moved Fix login from To do to Doing", "Ana commented on Fix login"]);
            assert_eq!(carried.items, read, "carried items differ from the feed's");

            if relay.is_some() {
                let c = heard(&mut other_heard, acme.id, last).await;
                assert_eq!(c.activity.as_deref(), Some(carried), "NOTIFY carried other items");
            }

            // Over the limit: only where the commit ends.
            let moves: Vec<_> = (0..=CARRIED_ITEMS).map(|i| card_moved(&card_on(&b, &format!("Card {i}")))).collect();
            let events: Vec<&dyn chronicle::events::AnyEvent> = moves.iter().map(|m| m as &dyn chronicle::events::AnyEvent).collect();
            let big = record_in_one_commit(&store, acme.id, &events).await;
            assert_eq!(heard(&mut here, acme.id, big).await.activity, None);
            if relay.is_some() {
                assert_eq!(heard(&mut other_heard, acme.id, big).await.activity, None);
            }
            if let Some(r) = relay {
                r.abort();
            }
        }
    }
}
