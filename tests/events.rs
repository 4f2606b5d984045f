//! The event log: recording, ordering, the hash chain, immutability and options.

use std::sync::Arc;
use std::time::Duration;

use chronicle::accounts::AccountId;
use chronicle::events::catalog::*;
use chronicle::events::log;
use chronicle::events::{record, Actor, FieldChange, RecordOptions, RecordOutcome, RequestContext};
use chronicle::testing::{account, allow_log_tampering, card_moved, card_ref, execute_raw, member};
use chronicle::{Error, Store};
use serde_json::json;
use uuid::Uuid;

async fn record_one<E: chronicle::events::DomainEvent>(
    store: &Store,
    account: AccountId,
    actor: &Actor,
    event: &E,
    options: RecordOptions,
) -> chronicle::Result<RecordOutcome> {
    let mut tx = store.begin().await?;
    let outcome = record(&mut tx, account, actor, event, options).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Records a move of `card` and commits it on another task, abandoned (as a request
/// whose client went away) after 0–2 ms depending on `attempt`, in 20 µs steps: sometimes
/// before COMMIT, sometimes while it is on its way, sometimes after. Whether the commit
/// finished before it was abandoned.
async fn abandon_commit(
    store: &Store,
    account: AccountId,
    actor: &Actor,
    card: &CardRef,
    attempt: u64,
) -> bool {
    let mut tx = store.begin().await.expect("begin");
    record(
        &mut tx,
        account,
        actor,
        &card_moved(card),
        RecordOptions::default(),
    )
    .await
    .expect("record");
    let commit = tokio::spawn(tx.commit());
    // Blocks this thread; the commit runs on the runtime's other one.
    std::thread::sleep(Duration::from_micros(attempt % 100 * 20));
    commit.abort();
    commit.await.is_ok()
}

chronicle::engine_tests! {
    async fn transactions_recording_for_two_teams_lock_them_in_one_order(store) {
        let mut teams = [account(&store, "Alpha").await.id, account(&store, "Beta").await.id];
        teams.sort_by_key(|a| a.0);
        let [low, high] = teams;
        // Recording for the later team first, then the earlier one, is refused: two such
        // transactions in opposite orders would each wait for the other's lock.
        let mut tx = store.begin().await.expect("begin");
        record(&mut tx, high, &member("Al"), &card_moved(&card_ref("A")), RecordOptions::default()).await.expect("high");
        let err = record(&mut tx, low, &member("Al"), &card_moved(&card_ref("B")), RecordOptions::default()).await.expect_err("out of order");
        assert!(matches!(err, Error::Bug(ref m) if m.contains("lock_chains")), "{err:?}");
        drop(tx);
        // Locked together first, any order of recording works, however many race.
        let mut racing = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            let order = if i % 2 == 0 { [low, high] } else { [high, low] };
            racing.push(tokio::spawn(async move {
                let mut tx = store.begin().await?;
                tx.lock_chains(&order).await?;
                for team in order {
                    record(&mut tx, team, &member("Al"), &card_moved(&card_ref("C")), RecordOptions::default()).await?;
                }
                tx.commit().await
            }));
        }
        for r in racing {
            r.await.expect("join").expect("recorded without a deadlock");
        }
        for team in [low, high] {
            assert_eq!(log::count(&store, team).await.expect("count"), 1 + 8);
            assert_eq!(log::verify(&store, team).await.expect("verify").first_broken, None);
        }
    }

    async fn events_get_gap_free_sequences_and_a_valid_chain(store) {
        let acme = account(&store, "Acme").await;
        let bob = member("Bob");
        let c = card_ref("Fix login");
        for _ in 0..5 {
            record_one(&store, acme.id, &bob, &card_moved(&c), RecordOptions::default()).await.expect("record");
        }
        let events = log::read(&store, acme.id, 0, 100).await.expect("read");
        let seqs: Vec<i64> = events.iter().map(|e| e.row.sequence).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "account.created is 1");
        assert_eq!(events[0].row.event_type, "account.created");
        assert_eq!(events[1].row.event_type, "card.moved");
        assert_eq!(events[1].row.prev_hash, events[0].hash);
        let v = log::verify(&store, acme.id).await.expect("verify");
        assert_eq!(v.checked, 6);
        assert_eq!(v.first_broken, None);
    }

    async fn a_stored_event_reads_back_as_its_type_and_describes_itself(store) {
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        record_one(&store, acme.id, &member("Bob"), &card_moved(&c), RecordOptions::default()).await.expect("record");
        let stored = log::get(&store, acme.id, 2).await.expect("get");
        let event = stored.event().expect("decode");
        let typed = event.downcast_ref::<CardMoved>().expect("a CardMoved");
        assert_eq!(typed.card, c);
        assert_eq!(event.describe("Bob"), "Bob moved Fix login from To do to Doing");
        assert_eq!(stored.row.actor_name, "Bob");
        assert_eq!(stored.row.scope.card, Some(c.id));
        assert_eq!(stored.row.scope.board, Some(c.board_id));

        let public = stored.public_envelope().expect("public");
        assert_eq!(public["type"], "card.moved");
        assert_eq!(public["sequence"], 2);
        assert_eq!(public["subject"]["kind"], "card");
        assert_eq!(public["data"]["to_column"]["name"], "Doing");
        assert_eq!(public["description"], "Bob moved Fix login from To do to Doing");
        assert!(public.get("metadata").is_none(), "no internal metadata in public");
    }

    async fn an_invalid_event_is_refused_and_the_whole_change_rolls_back(store) {
        let project = ProjectRef { id: Uuid::now_v7(), name: "Website".into() };
        for reason in ["", "   ", &"x".repeat(501)] {
            let mut tx = store.begin().await.expect("begin");
            // The business change: a new account, in the same transaction.
            let name = chronicle::accounts::AccountName::parse("Doomed").expect("valid");
            let acme = chronicle::accounts::create_account_in(&mut tx, &name, &Actor::System)
                .await.expect("create");
            let archived = ProjectArchived { project: project.clone(), reason: reason.to_owned() };
            let err = record(&mut tx, acme.id, &member("Ana"), &archived, RecordOptions::default())
                .await.expect_err("invalid");
            assert!(matches!(err, Error::Invalid { field: "reason", .. }), "{err:?}");
            drop(tx);
        }
        assert!(chronicle::accounts::list_accounts(&store).await.expect("list").is_empty());
        // A 500-character reason is fine.
        let acme = account(&store, "Acme").await;
        let ok = ProjectArchived { project, reason: "é".repeat(500) };
        record_one(&store, acme.id, &member("Ana"), &ok, RecordOptions::default()).await.expect("500 chars");
    }

    async fn recording_for_an_unknown_account_is_not_found(store) {
        let mut tx = store.begin().await.expect("begin");
        let err = record(&mut tx, AccountId::new(), &Actor::System, &card_moved(&card_ref("x")), RecordOptions::default())
            .await.expect_err("no such account");
        assert!(matches!(err, Error::NotFound("account")), "{err:?}");
    }

    async fn the_database_rejects_updates_and_deletes_of_the_log(store, db) {
        let acme = account(&store, "Acme").await;
        let update = execute_raw(db, "UPDATE events SET actor_name = 'Mallory'").await;
        assert!(update.expect_err("update refused").to_string().contains("append-only"));
        let delete = execute_raw(db, "DELETE FROM events").await;
        assert!(delete.expect_err("delete refused").to_string().contains("append-only"));
        assert_eq!(log::count(&store, acme.id).await.expect("count"), 1);
    }

    async fn verify_names_the_first_altered_row(store, db) {
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        for _ in 0..4 {
            record_one(&store, acme.id, &member("Bob"), &card_moved(&c), RecordOptions::default()).await.expect("record");
        }
        allow_log_tampering(db).await;
        execute_raw(db, "UPDATE events SET actor_name = 'Mallory' WHERE sequence = 3").await.expect("tamper");
        let v = log::verify(&store, acme.id).await.expect("verify");
        assert_eq!(v.checked, 2);
        let broken = v.first_broken.expect("broken");
        assert_eq!(broken.sequence, 3);
        assert!(broken.reason.contains("altered"), "{}", broken.reason);
    }

    async fn verify_notices_a_missing_row(store, db) {
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        for _ in 0..3 {
            record_one(&store, acme.id, &member("Bob"), &card_moved(&c), RecordOptions::default()).await.expect("record");
        }
        allow_log_tampering(db).await;
        execute_raw(db, "DELETE FROM events WHERE sequence = 4").await.expect("delete the newest");
        let v = log::verify(&store, acme.id).await.expect("verify");
        assert_eq!(v.first_broken.expect("broken").sequence, 4);
    }

    async fn the_throttle_skips_a_repeat_on_the_same_subject_within_the_window(store) {
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        let edit = CardUpdated {
            card: c.clone(),
            changes: vec![FieldChange { field: "description".into(), old: json!("a"), new: json!("ab") }],
        };
        let throttled = || RecordOptions { throttle: Some(Duration::from_secs(60)), ..Default::default() };
        let first = record_one(&store, acme.id, &member("Ana"), &edit, throttled()).await.expect("first");
        assert!(matches!(first, RecordOutcome::Recorded { .. }));
        let second = record_one(&store, acme.id, &member("Ana"), &edit, throttled()).await.expect("second");
        assert_eq!(second, RecordOutcome::Throttled);
        // Another card, or another kind of event on the same card, is not throttled.
        let other = CardUpdated { card: card_ref("Other"), ..edit.clone() };
        let third = record_one(&store, acme.id, &member("Ana"), &other, throttled()).await.expect("third");
        assert!(matches!(third, RecordOutcome::Recorded { .. }));
        let fourth = record_one(&store, acme.id, &member("Ana"), &card_moved(&c), throttled()).await.expect("fourth");
        assert!(matches!(fourth, RecordOutcome::Recorded { .. }));
        assert_eq!(log::count(&store, acme.id).await.expect("count"), 4);
    }

    async fn batch_snapshot_and_request_metadata_are_stored(store) {
        let acme = account(&store, "Acme").await;
        let batch = Uuid::now_v7();
        let correlation = Uuid::now_v7();
        let mut tx = store.begin().await.expect("begin");
        for title in ["One", "Two", "Three"] {
            let c = card_ref(title);
            let options = RecordOptions {
                batch_id: Some(batch),
                correlation_id: Some(correlation),
                snapshot: Some(json!({"title": title, "status": "done"})),
                request: Some(RequestContext {
                    request_id: Some("req-1".into()),
                    ip: Some("203.0.113.77".parse().expect("ip")),
                    user_agent: Some("Firefox".into()),
                }),
                ..Default::default()
            };
            record(&mut tx, acme.id, &member("Ana"), &CardArchived { card: c }, options).await.expect("record");
        }
        tx.commit().await.expect("commit");
        let events = log::read(&store, acme.id, 1, 10).await.expect("read");
        assert_eq!(events.len(), 3);
        for e in &events {
            assert_eq!(e.row.batch_id, Some(batch));
            assert_eq!(e.row.metadata["request"]["ip"], "203.0.113.0/24");
            assert_eq!(e.row.metadata["request"]["user_agent"], "Firefox");
            assert_eq!(e.row.metadata["correlation_id"], json!(correlation));
        }
        assert_eq!(events[1].row.snapshot, Some(json!({"title": "Two", "status": "done"})));
        assert_eq!(log::verify(&store, acme.id).await.expect("verify").first_broken, None);
    }

    async fn concurrent_writers_never_expose_a_gap(store) {
        let acme = account(&store, "Acme").await;
        const WRITERS: usize = 8;
        const EACH: usize = 15;
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // A reader that, all along, checks that every sequence up to the newest visible
        // one is visible too: commit order is sequence order.
        let reader = {
            let store = store.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut checks = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let events = log::read(&store, acme.id, 0, 10_000).await.expect("read");
                    for (i, e) in events.iter().enumerate() {
                        assert_eq!(e.row.sequence, i as i64 + 1, "gap visible");
                    }
                    checks += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                checks
            })
        };
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let actor = member(&format!("Writer {w}"));
                let c = card_ref(&format!("Card {w}"));
                for _ in 0..EACH {
                    record_one(&store, acme.id, &actor, &card_moved(&c), RecordOptions::default())
                        .await.expect("record");
                }
            }));
        }
        for w in writers {
            w.await.expect("writer");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(reader.await.expect("reader") > 0);
        let total = (WRITERS * EACH + 1) as u64;
        assert_eq!(log::count(&store, acme.id).await.expect("count"), total);
        let v = log::verify(&store, acme.id).await.expect("verify");
        assert_eq!((v.checked, v.first_broken), (total, None));
    }

    async fn each_account_has_its_own_chain_and_sees_only_its_events(store) {
        let a = account(&store, "Alpha").await;
        let b = account(&store, "Beta").await;
        let secret = card_ref("Beta's secret");
        record_one(&store, b.id, &member("Bea"), &card_moved(&secret), RecordOptions::default()).await.expect("b");
        record_one(&store, a.id, &member("Al"), &card_moved(&card_ref("Alpha's")), RecordOptions::default()).await.expect("a");
        assert_eq!(log::count(&store, a.id).await.expect("count"), 2);
        assert!(log::read(&store, a.id, 0, 100).await.expect("read").iter().all(|e| e.row.account_id == a.id.0));
        assert!(log::for_subject(&store, a.id, secret.id).await.expect("subject").is_empty());
        assert_eq!(log::for_subject(&store, b.id, secret.id).await.expect("subject").len(), 1);
        let b_event = log::get(&store, b.id, 2).await.expect("b's event");
        let a_event = log::get(&store, a.id, 2).await.expect("a's event");
        assert_ne!(a_event.row.id, b_event.row.id);
        assert!(matches!(log::get(&store, a.id, 3).await, Err(Error::NotFound("event"))));
        assert_eq!(log::verify(&store, a.id).await.expect("verify a").first_broken, None);
        assert_eq!(log::verify(&store, b.id).await.expect("verify b").first_broken, None);
    }

    async fn a_commit_abandoned_part_way_never_breaks_the_next_recording(store) {
        // A request whose client goes away is dropped wherever it is, also inside
        // `commit` after COMMIT reached the database. The next recording must still get
        // the next sequence (on SQLite, not a remembered head the lost commit advanced).
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        let ana = member("Ana");
        let mut expected = log::count(&store, acme.id).await.expect("count");
        let mut lost_after_commit = 0;
        for attempt in 0..400u64 {
            let finished = abandon_commit(&store, acme.id, &ana, &c, attempt).await;
            let now = log::count(&store, acme.id).await.expect("count");
            if now > expected && !finished {
                lost_after_commit += 1;
            }
            expected = now;
            record_one(&store, acme.id, &ana, &card_moved(&c), RecordOptions::default())
                .await
                .unwrap_or_else(|e| panic!("recording after abandoned commit {attempt}: {e}"));
            expected += 1;
            if lost_after_commit >= 3 {
                break;
            }
        }
        assert!(lost_after_commit > 0, "no commit was abandoned after reaching the database");
        // The chain is whole: every row, in order, linked (a commit abandoned in the last
        // round may land after the last count, so the total is read afresh).
        let total = log::count(&store, acme.id).await.expect("count");
        assert!(total >= expected);
        let v = log::verify(&store, acme.id).await.expect("verify");
        assert_eq!((v.checked, v.first_broken), (total, None));
    }

    async fn a_thousand_events_in_one_transaction_are_all_written_in_order(store) {
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        let batch = Uuid::now_v7();
        let mut tx = store.begin().await.expect("begin");
        for _ in 0..1500 {
            let options = RecordOptions { batch_id: Some(batch), ..Default::default() };
            record(&mut tx, acme.id, &member("Ana"), &card_moved(&c), options).await.expect("record");
        }
        tx.commit().await.expect("commit");
        assert_eq!(log::count(&store, acme.id).await.expect("count"), 1501);
        let v = log::verify(&store, acme.id).await.expect("verify");
        assert_eq!((v.checked, v.first_broken), (1501, None));
        let mut feed = chronicle::activity::FeedQuery::new(chronicle::activity::FeedScope::Card(c.id));
        feed.limit = 200;
        assert_eq!(chronicle::activity::feed(&store, acme.id, &feed).await.expect("feed").len(), 200);
        // One card-thread delivery per move.
        assert_eq!(chronicle::queue::counts(&store).await.expect("counts").ready, 1500);
    }
}

/// SQLite remembers each account's chain head in-process. If another process records
/// into the same file, the stale head makes one transaction fail (primary key), never
/// a fork of the chain; the next transaction reads the head afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_recovers_when_another_process_advanced_the_chain() {
    let (store, db) = chronicle::testing::sqlite().await;
    let acme = account(&store, "Acme").await;
    let c = card_ref("Fix login");
    let ana = member("Ana");
    record_one(
        &store,
        acme.id,
        &ana,
        &card_moved(&c),
        RecordOptions::default(),
    )
    .await
    .expect("first");
    // "Another process": a second store on the same file records an event.
    let other = Store::open(&db.url).await.expect("second store");
    record_one(
        &other,
        acme.id,
        &ana,
        &card_moved(&c),
        RecordOptions::default(),
    )
    .await
    .expect("other");
    let stale = record_one(
        &store,
        acme.id,
        &ana,
        &card_moved(&c),
        RecordOptions::default(),
    )
    .await;
    assert!(stale.is_err(), "a stale head must not write: {stale:?}");
    record_one(
        &store,
        acme.id,
        &ana,
        &card_moved(&c),
        RecordOptions::default(),
    )
    .await
    .expect("retry");
    let v = log::verify(&store, acme.id).await.expect("verify");
    assert_eq!((v.checked, v.first_broken), (4, None));
}

/// A commit whose caller stopped waiting after COMMIT reached SQLite is still announced
/// (live streams, queue workers): nobody else would tell them until the team's next
/// commit. (On PostgreSQL the commit's own NOTIFY does.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_announces_a_commit_whose_caller_stopped_waiting() {
    let (store, _db) = chronicle::testing::sqlite().await;
    let acme = account(&store, "Acme").await;
    let c = card_ref("Fix login");
    let ana = member("Ana");
    let mut announced = 0;
    for attempt in 0..400u64 {
        let before = log::count(&store, acme.id).await.expect("count");
        let mut commits = store.subscribe();
        if abandon_commit(&store, acme.id, &ana, &c, attempt).await {
            continue; // it finished: announced the ordinary way
        }
        // Take a write turn (and give it back), so a COMMIT still on its way has landed.
        let turn = store.begin().await.expect("turn");
        turn.rollback().await.expect("rollback");
        let now = log::count(&store, acme.id).await.expect("count");
        if now != before + 1 {
            continue; // the abandoned commit did not land
        }
        let lost = before as i64 + 1;
        // Nothing else was committed since: the announcement must name that sequence.
        let heard = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match commits.recv().await {
                    Ok(c) if c.account == acme.id && c.last_sequence == lost => return true,
                    Ok(_) => continue,
                    Err(_) => return false,
                }
            }
        })
        .await;
        assert_eq!(
            heard,
            Ok(true),
            "the commit of sequence {lost} was never announced"
        );
        announced += 1;
        if announced >= 3 {
            break;
        }
    }
    assert!(
        announced > 0,
        "no commit was abandoned after reaching the database"
    );
}
