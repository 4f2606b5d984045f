//! Projects, boards, columns, cards and comments on both engines: each action records
//! exactly its event (type and fields) in the same transaction, and a refused action
//! records nothing and changes nothing.

use chronicle::accounts::Current;
use chronicle::boards::{self, board_view};
use chronicle::cards::{self, subscriptions, CardEdit};
use chronicle::comments;
use chronicle::events::log::{self, StoredEvent};
use chronicle::projects;
use chronicle::testing::{join, team};
use chronicle::{Error, Store};
use serde_json::json;

/// The events recorded after sequence `after`.
async fn since(store: &Store, who: &Current, after: i64) -> Vec<StoredEvent> {
    log::read(store, who.account_id(), after, 1000)
        .await
        .expect("log")
}

async fn head(store: &Store, who: &Current) -> i64 {
    log::count(store, who.account_id()).await.expect("count") as i64
}

fn types(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.row.event_type.as_str()).collect()
}

/// A team with a project and a board (To do / Doing / Done); as its owner.
async fn board(store: &Store) -> (Current, chronicle::boards::Board) {
    let ana = team(store, "Acme", "ana@example.com").await;
    let board = chronicle::testing::board(store, &ana).await.board;
    (ana, board)
}

async fn column(store: &Store, who: &Current, board: uuid::Uuid, name: &str) -> uuid::Uuid {
    board_view(store, who, board)
        .await
        .expect("view")
        .columns
        .into_iter()
        .find(|(c, _)| c.name == name)
        .map(|(c, _)| c.id)
        .expect("column")
}

chronicle::engine_tests! {
    async fn a_new_board_records_itself_and_its_columns_as_one_batch(store) {
        let ana = team(&store, "Acme", "ana@example.com").await;
        let project = projects::create_project(&store, &ana, "  Website ").await.expect("project");
        assert_eq!(project.name, "Website");
        let at = head(&store, &ana).await;
        let board = boards::create_board(&store, &ana, project.id, "Launch").await.expect("board");
        let events = since(&store, &ana, at).await;
        assert_eq!(types(&events), ["board.created", "column.created", "column.created", "column.created"]);
        let batch = events[0].row.batch_id;
        assert!(batch.is_some() && events.iter().all(|e| e.row.batch_id == batch));
        assert_eq!(events[0].row.data["board"]["name"], "Launch");
        assert_eq!(events[0].row.data["project_name"], "Website");
        let view = board_view(&store, &ana, board.id).await.expect("view");
        let names: Vec<_> = view.columns.iter().map(|(c, _)| c.name.as_str()).collect();
        assert_eq!(names, ["To do", "Doing", "Done"]);
    }

    async fn a_card_edit_records_old_and_new_for_each_changed_field(store) {
        let (ana, board) = board(&store).await;
        let bob = join(&store, &ana, "bob@example.com", chronicle::accounts::Role::Member).await;
        let todo = column(&store, &ana, board.id, "To do").await;
        let card = cards::create_card(&store, &ana, todo, "Fix login").await.expect("card");
        let at = head(&store, &ana).await;
        let edit = CardEdit {
            title: "Fix login on Safari".into(),
            description: String::new(),
            assignee_id: Some(bob.user.id.0),
            due_date: Some("2026-12-01".into()),
        };
        let edited = cards::update_card(&store, &ana, card.id, card.version, &edit).await.expect("edit");
        assert_eq!(edited.version, card.version + 1);
        let events = since(&store, &ana, at).await;
        assert_eq!(types(&events), ["card.updated"]);
        assert_eq!(events[0].row.data["changes"], json!([
            {"field": "title", "old": "Fix login", "new": "Fix login on Safari"},
            {"field": "assignee", "old": null, "new": bob.user.id.0},
            {"field": "due_date", "old": null, "new": "2026-12-01"},
        ]));
        // The same edit again changes nothing and records nothing.
        cards::update_card(&store, &ana, card.id, edited.version, &edit).await.expect("no-op");
        assert_eq!(head(&store, &ana).await, at + 1);
        // The assignee follows the card now.
        let detail = cards::card_detail(&store, &ana, card.id).await.expect("detail");
        let names: Vec<_> = detail.subscribers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Ana", "Bob"]);
    }

    async fn a_stale_edit_is_a_conflict_and_writes_nothing(store) {
        let (ana, board) = board(&store).await;
        let todo = column(&store, &ana, board.id, "To do").await;
        let card = cards::create_card(&store, &ana, todo, "Fix login").await.expect("card");
        let edit = |title: &str| CardEdit { title: title.into(), ..CardEdit::default() };
        cards::update_card(&store, &ana, card.id, card.version, &edit("First")).await.expect("first");
        let at = head(&store, &ana).await;
        let err = cards::update_card(&store, &ana, card.id, card.version, &edit("Second")).await.expect_err("stale");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("reload")), "{err:?}");
        assert_eq!(head(&store, &ana).await, at);
        let detail = cards::card_detail(&store, &ana, card.id).await.expect("detail");
        assert_eq!(detail.card.title, "First");
    }

    async fn moving_a_card_records_both_columns_and_keeps_orders_dense(store) {
        let (ana, board) = board(&store).await;
        let todo = column(&store, &ana, board.id, "To do").await;
        let doing = column(&store, &ana, board.id, "Doing").await;
        let a = cards::create_card(&store, &ana, todo, "A").await.expect("a");
        let b = cards::create_card(&store, &ana, todo, "B").await.expect("b");
        let c = cards::create_card(&store, &ana, todo, "C").await.expect("c");
        let at = head(&store, &ana).await;
        cards::move_card(&store, &ana, a.id, doing, 0).await.expect("move");
        let events = since(&store, &ana, at).await;
        assert_eq!(types(&events), ["card.moved"]);
        assert_eq!(events[0].row.data["from_column"]["name"], "To do");
        assert_eq!(events[0].row.data["to_column"]["name"], "Doing");
        // Reorder within a column; a stale, too-large position is clamped.
        cards::move_card(&store, &ana, c.id, todo, 0).await.expect("reorder");
        cards::move_card(&store, &ana, b.id, doing, 99).await.expect("clamped");
        let view = board_view(&store, &ana, board.id).await.expect("view");
        let layout: Vec<(String, Vec<(String, i32)>)> = view.columns.iter()
            .map(|(col, cards)| (col.name.clone(), cards.iter().map(|c| (c.title.clone(), c.position)).collect()))
            .collect();
        assert_eq!(layout, vec![
            ("To do".to_owned(), vec![("C".to_owned(), 0)]),
            ("Doing".to_owned(), vec![("A".to_owned(), 0), ("B".to_owned(), 1)]),
            ("Done".to_owned(), vec![]),
        ]);
    }

    async fn a_card_cannot_move_to_another_boards_column(store) {
        let (ana, board) = board(&store).await;
        let other = boards::create_board(&store, &ana, board.project_id, "Other").await.expect("other");
        let todo = column(&store, &ana, board.id, "To do").await;
        let elsewhere = column(&store, &ana, other.id, "Doing").await;
        let card = cards::create_card(&store, &ana, todo, "A").await.expect("a");
        let at = head(&store, &ana).await;
        let err = cards::move_card(&store, &ana, card.id, elsewhere, 0).await.expect_err("other board");
        assert!(matches!(err, Error::Invalid { field: "column", .. }), "{err:?}");
        let err = cards::move_card(&store, &ana, card.id, uuid::Uuid::now_v7(), 0).await.expect_err("no column");
        assert!(matches!(err, Error::NotFound("column")), "{err:?}");
        assert_eq!(head(&store, &ana).await, at);
    }

    async fn another_teams_cards_and_columns_are_not_found(store) {
        let (ana, board) = board(&store).await;
        let (zed, zboard) = {
            let zed = team(&store, "Zeta", "zed@example.com").await;
            let p = projects::create_project(&store, &zed, "Z").await.expect("p");
            let b = boards::create_board(&store, &zed, p.id, "Z").await.expect("b");
            (zed, b)
        };
        let ztodo = column(&store, &zed, zboard.id, "To do").await;
        let zcard = cards::create_card(&store, &zed, ztodo, "Secret").await.expect("card");
        let todo = column(&store, &ana, board.id, "To do").await;
        let mine = cards::create_card(&store, &ana, todo, "Mine").await.expect("mine");
        assert!(matches!(cards::card_detail(&store, &ana, zcard.id).await, Err(Error::NotFound("card"))));
        assert!(matches!(board_view(&store, &ana, zboard.id).await, Err(Error::NotFound("board"))));
        assert!(matches!(cards::move_card(&store, &ana, mine.id, ztodo, 0).await, Err(Error::NotFound("column"))));
        assert!(matches!(cards::create_card(&store, &ana, ztodo, "x").await, Err(Error::NotFound("column"))));
        assert!(matches!(comments::add_comment(&store, &ana, zcard.id, "hi").await, Err(Error::NotFound("card"))));
        assert!(matches!(projects::get_project(&store, &ana, zboard.project_id).await, Err(Error::NotFound("project"))));
        assert_eq!(board_view(&store, &zed, zboard.id).await.expect("view").columns[0].1.len(), 1);
    }

    async fn status_archive_bulk_and_delete_record_their_events(store) {
        let (ana, board) = board(&store).await;
        let done = column(&store, &ana, board.id, "Done").await;
        let a = cards::create_card(&store, &ana, done, "A").await.expect("a");
        let b = cards::create_card(&store, &ana, done, "B").await.expect("b");
        let c = cards::create_card(&store, &ana, done, "C").await.expect("c");
        let at = head(&store, &ana).await;
        cards::set_status(&store, &ana, a.id, "done", Some("shipped")).await.expect("status");
        let err = cards::set_status(&store, &ana, a.id, "finished", None).await.expect_err("bad status");
        assert!(matches!(err, Error::Invalid { field: "status", .. }), "{err:?}");
        cards::delete_card(&store, &ana, c.id).await.expect("delete");
        assert_eq!(cards::archive_column_cards(&store, &ana, done).await.expect("bulk"), 2);
        let events = since(&store, &ana, at).await;
        assert_eq!(types(&events), ["card.status_changed", "card.deleted", "card.archived", "card.archived"]);
        assert_eq!(events[0].row.data["from"], "open");
        assert_eq!(events[0].row.data["to"], "done");
        assert_eq!(events[0].row.data["reason"], "shipped");
        assert_eq!(events[1].row.data["final_values"]["title"], "C");
        assert!(events[2].row.batch_id.is_some());
        assert_eq!(events[2].row.batch_id, events[3].row.batch_id);
        assert!(board_view(&store, &ana, board.id).await.expect("view").columns[2].1.is_empty());
        let _ = b;
    }

    async fn an_archived_card_is_listed_restored_to_the_end_of_its_column_and_holds_it(store) {
        let (ana, board) = board(&store).await;
        let doing = column(&store, &ana, board.id, "Doing").await;
        let a = cards::create_card(&store, &ana, doing, "A").await.expect("a");
        let b = cards::create_card(&store, &ana, doing, "B").await.expect("b");
        cards::archive_card(&store, &ana, a.id).await.expect("archive");
        let listed = cards::archived_cards(&store, &ana, board.id).await.expect("archived");
        assert_eq!(listed.iter().map(|c| c.title.as_str()).collect::<Vec<_>>(), ["A"]);
        // Only archived cards left: the column cannot go, and the message says why.
        cards::archive_card(&store, &ana, b.id).await.expect("archive b");
        let at = head(&store, &ana).await;
        let err = boards::delete_column(&store, &ana, doing).await.expect_err("archived cards");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("2 archived cards; restore or delete")), "{err:?}");
        assert_eq!(head(&store, &ana).await, at, "a refused delete records nothing");
        let c = cards::create_card(&store, &ana, doing, "C").await.expect("c");
        assert_eq!(cards::restore_card(&store, &ana, a.id).await.expect("restore"), board.id);
        let err = cards::restore_card(&store, &ana, a.id).await.expect_err("twice");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("A is not archived")), "{err:?}");
        let events = since(&store, &ana, at).await;
        assert_eq!(types(&events), ["card.created", "card.restored"]);
        assert_eq!(events[1].row.data["column"]["name"], "Doing");
        assert_eq!(events[1].row.data["card"]["title"], "A");
        // Back at the end of its column, after the card added meanwhile.
        let view = board_view(&store, &ana, board.id).await.expect("view");
        let order: Vec<_> = view.columns[1].1.iter().map(|k| (k.title.as_str(), k.position)).collect();
        assert_eq!(order, [("C", 0), ("A", 1)]);
        let detail = cards::card_detail(&store, &ana, a.id).await.expect("detail");
        assert!(detail.card.archived_at.is_none());
        assert_eq!(detail.card.version, a.version + 2, "archived and restored");
        let listed = cards::archived_cards(&store, &ana, board.id).await.expect("archived");
        assert_eq!(listed.iter().map(|k| k.id).collect::<Vec<_>>(), [b.id]);
        let _ = c;
    }

    async fn columns_are_added_renamed_reordered_and_deleted_only_when_empty(store) {
        let (ana, board) = board(&store).await;
        let review = boards::add_column(&store, &ana, board.id, "Review").await.expect("add");
        assert_eq!(review.position, 3);
        boards::rename_column(&store, &ana, review.id, "In review").await.expect("rename");
        let cols = boards::move_column(&store, &ana, review.id, 1).await.expect("move");
        let names: Vec<_> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["To do", "In review", "Doing", "Done"]);
        cards::create_card(&store, &ana, review.id, "Waiting").await.expect("card");
        let at = head(&store, &ana).await;
        let err = boards::delete_column(&store, &ana, review.id).await.expect_err("not empty");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("still holds 1 card")), "{err:?}");
        assert_eq!(head(&store, &ana).await, at);
        let todo = column(&store, &ana, board.id, "To do").await;
        boards::delete_column(&store, &ana, todo).await.expect("delete empty");
        let names: Vec<_> = board_view(&store, &ana, board.id).await.expect("view").columns.iter()
            .map(|(c, _)| (c.name.clone(), c.position)).collect();
        assert_eq!(names, [("In review".to_owned(), 0), ("Doing".to_owned(), 1), ("Done".to_owned(), 2)]);
    }

    async fn projects_are_renamed_and_archived_with_a_required_reason(store) {
        let ana = team(&store, "Acme", "ana@example.com").await;
        let p = projects::create_project(&store, &ana, "Website").await.expect("project");
        let at = head(&store, &ana).await;
        for bad in ["", "   ", &"x".repeat(501)] {
            let err = projects::archive_project(&store, &ana, p.id, bad).await.expect_err("bad reason");
            assert!(matches!(err, Error::Invalid { field: "reason", .. }), "{err:?}");
        }
        assert_eq!(head(&store, &ana).await, at, "nothing recorded");
        projects::rename_project(&store, &ana, p.id, "Site").await.expect("rename");
        let archived = projects::archive_project(&store, &ana, p.id, "Launched").await.expect("archive");
        assert_eq!(archived.archive_reason.as_deref(), Some("Launched"));
        let events = since(&store, &ana, at).await;
        assert_eq!(types(&events), ["project.updated", "project.archived"]);
        assert_eq!(events[1].row.data["reason"], "Launched");
        let err = boards::create_board(&store, &ana, p.id, "Late").await.expect_err("archived");
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        for bad in ["", &"n".repeat(81)] {
            assert!(projects::create_project(&store, &ana, bad).await.is_err());
        }
    }

    async fn comments_are_added_edited_by_their_author_and_deleted_softly(store) {
        let (ana, board) = board(&store).await;
        let bob = join(&store, &ana, "bob@example.com", chronicle::accounts::Role::Member).await;
        let todo = column(&store, &ana, board.id, "To do").await;
        let card = cards::create_card(&store, &ana, todo, "Fix login").await.expect("card");
        let at = head(&store, &ana).await;
        let id = comments::add_comment(&store, &bob, card.id, "On it").await.expect("comment");
        let err = comments::edit_comment(&store, &ana, id, "Hijacked").await.expect_err("not hers");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        comments::edit_comment(&store, &bob, id, "On it now").await.expect("edit");
        assert!(comments::add_comment(&store, &bob, card.id, "   ").await.is_err());
        comments::delete_comment(&store, &ana, id).await.expect("an owner may delete");
        let events = since(&store, &ana, at).await;
        assert_eq!(types(&events), ["comment.added", "comment.edited", "comment.deleted"]);
        assert_eq!(events[1].row.data["changes"][0]["old"], "On it");
        let thread = chronicle::inbox::card_thread_messages(&store, ana.account_id(), card.id).await.expect("thread");
        assert!(thread.iter().all(|m| m.body != "On it now"), "deleted comments leave the thread");
        let subscribed: Vec<_> = cards::card_detail(&store, &ana, card.id).await.expect("detail")
            .subscribers.into_iter().map(|s| s.name).collect();
        assert_eq!(subscribed, ["Ana", "Bob"], "the commenter follows the card");
        let list = subscriptions::set_subscribed(&store, &bob, card.id, false).await.expect("unsubscribe");
        assert_eq!(list.len(), 1);
    }

    async fn a_boards_comment_counts_leave_out_deleted_comments_and_chronicles_notes(store) {
        let (ana, board) = board(&store).await;
        let todo = column(&store, &ana, board.id, "To do").await;
        let talked = cards::create_card(&store, &ana, todo, "Fix login").await.expect("card");
        let quiet = cards::create_card(&store, &ana, todo, "Write docs").await.expect("card");
        for body in ["One", "Two", "Three"] {
            comments::add_comment(&store, &ana, talked.id, body).await.expect("comment");
        }
        let gone = comments::add_comment(&store, &ana, talked.id, "Oops").await.expect("comment");
        comments::delete_comment(&store, &ana, gone).await.expect("delete");
        // The card-thread inbox posts Chronicle's notes into the same table: not comments.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(chronicle::queue::Worker::new(store.clone(), chronicle::queue::WorkerConfig::default()).run(stopped));
        chronicle::testing::eventually("the thread has Chronicle's notes", async || {
            chronicle::inbox::card_thread_messages(&store, ana.account_id(), talked.id).await.expect("thread").len() > 3
        }).await;
        stop.send(true).expect("stop");
        worker.await.expect("join").expect("worker");
        let counts = comments::counts_on_board(&store, &ana, board.id).await.expect("counts");
        assert_eq!(counts.get(&talked.id), Some(&3));
        assert_eq!(counts.get(&quiet.id), None);
        // Another team sees no counts of this board, and its own board has none.
        let zed = team(&store, "Zed", "zed@example.com").await;
        let other = chronicle::testing::board(&store, &zed).await.board;
        assert!(comments::counts_on_board(&store, &zed, other.id).await.expect("counts").is_empty());
        assert!(comments::counts_on_board(&store, &zed, board.id).await.expect("counts").is_empty());
    }

    async fn bad_card_input_is_refused_with_the_field_named(store) {
        let (ana, board) = board(&store).await;
        let todo = column(&store, &ana, board.id, "To do").await;
        for (title, field) in [("", "title"), (&"t".repeat(201) as &str, "title")] {
            let err = cards::create_card(&store, &ana, todo, title).await.expect_err("bad title");
            assert!(matches!(err, Error::Invalid { field: f, .. } if f == field), "{err:?}");
        }
        let card = cards::create_card(&store, &ana, todo, "Ok").await.expect("card");
        let bad_due = CardEdit { title: "Ok".into(), due_date: Some("31/12/2026".into()), ..CardEdit::default() };
        let err = cards::update_card(&store, &ana, card.id, card.version, &bad_due).await.expect_err("due");
        assert!(matches!(err, Error::Invalid { field: "due_date", .. }), "{err:?}");
        let stranger = CardEdit { title: "Ok".into(), assignee_id: Some(uuid::Uuid::now_v7()), ..CardEdit::default() };
        let err = cards::update_card(&store, &ana, card.id, card.version, &stranger).await.expect_err("assignee");
        assert!(matches!(err, Error::Invalid { field: "assignee", .. }), "{err:?}");
    }

    async fn text_with_nul_or_other_control_characters_is_refused_and_writes_nothing(store) {
        // PostgreSQL cannot store U+0000 in text: without the check this was a 500.
        let (ana, board) = board(&store).await;
        let todo = column(&store, &ana, board.id, "To do").await;
        let err = cards::create_card(&store, &ana, todo, "Fix\u{0}login").await.expect_err("title");
        assert!(matches!(err, Error::Invalid { field: "title", .. }), "{err:?}");
        let card = cards::create_card(&store, &ana, todo, "Fix login").await.expect("card");
        let at = head(&store, &ana).await;
        let edit = CardEdit { title: "Fix login".into(), description: "steps:\n\t1. \u{0}".into(), ..CardEdit::default() };
        let err = cards::update_card(&store, &ana, card.id, card.version, &edit).await.expect_err("description");
        assert!(matches!(err, Error::Invalid { field: "description", .. }), "{err:?}");
        let err = comments::add_comment(&store, &ana, card.id, "hi\u{0}").await.expect_err("comment");
        assert!(matches!(err, Error::Invalid { field: "body", .. }), "{err:?}");
        let err = cards::set_status(&store, &ana, card.id, "blocked", Some("waiting\u{0}")).await.expect_err("reason");
        assert!(matches!(err, Error::Invalid { field: "reason", .. }), "{err:?}");
        let err = projects::archive_project(&store, &ana, board.project_id, "done\u{1b}[2J").await.expect_err("reason");
        assert!(matches!(err, Error::Invalid { field: "reason", .. }), "{err:?}");
        assert_eq!(head(&store, &ana).await, at, "nothing recorded");
        // Line breaks and tabs are text.
        let edit = CardEdit { title: "Fix login".into(), description: "steps:\r\n\t1. log in".into(), ..CardEdit::default() };
        cards::update_card(&store, &ana, card.id, card.version, &edit).await.expect("multi-line description");
    }
}

mod concurrency {
    use super::*;

    chronicle::engine_tests! {
        async fn concurrent_creates_and_moves_keep_every_order_dense(store) {
            let (ana, board) = board(&store).await;
            let todo = column(&store, &ana, board.id, "To do").await;
            let doing = column(&store, &ana, board.id, "Doing").await;
            let tasks: Vec<_> = (0..8).map(|t| {
                let (store, ana) = (store.clone(), ana.clone());
                tokio::spawn(async move {
                    for i in 0..5 {
                        let card = cards::create_card(&store, &ana, todo, &format!("t{t}-{i}")).await.expect("create");
                        if i % 2 == 0 {
                            cards::move_card(&store, &ana, card.id, doing, 0).await.expect("move");
                        }
                    }
                })
            }).collect();
            for t in tasks {
                t.await.expect("task");
            }
            let view = board_view(&store, &ana, board.id).await.expect("view");
            let mut total = 0;
            for (col, cards) in &view.columns {
                let positions: Vec<i32> = cards.iter().map(|c| c.position).collect();
                assert_eq!(positions, (0..cards.len() as i32).collect::<Vec<_>>(), "{}: {positions:?}", col.name);
                total += cards.len();
            }
            assert_eq!(total, 40);
        }
    }
}
