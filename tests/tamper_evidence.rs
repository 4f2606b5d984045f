//! Tamper evidence against someone who can write to the database: each way of editing
//! the log that keeps it consistent with itself is still reported, naming the row.

use chronicle::events::log::{self, Anchor};
use chronicle::events::RecordOptions;
use chronicle::testing::{
    account, allow_log_tampering, bytes_literal, card_moved, card_ref, execute_raw, forge_tail,
    member, uuid_literal,
};
use chronicle::Store;

async fn record_moves(store: &Store, account: chronicle::accounts::AccountId, n: usize) {
    let c = card_ref("Fix login");
    for _ in 0..n {
        let mut tx = store.begin().await.expect("begin");
        chronicle::events::record(
            &mut tx,
            account,
            &member("Bob"),
            &card_moved(&c),
            RecordOptions::default(),
        )
        .await
        .expect("record");
        tx.commit().await.expect("commit");
    }
}

chronicle::engine_tests! {
    async fn a_rewritten_newest_row_with_a_recomputed_hash_is_reported(store, db) {
        let acme = account(&store, "Acme").await;
        record_moves(&store, acme.id, 3).await;
        // Rewrite event 4 (the newest) and give it a hash that fits its new content;
        // the chain head still holds the hash the log had.
        let newest = log::get(&store, acme.id, 4).await.expect("newest");
        let mut row = newest.row.clone();
        row.actor_name = "Mallory".into();
        let hash = bytes_literal(db, &row.chain_hash());
        allow_log_tampering(db).await;
        execute_raw(db, &format!(
            "UPDATE events SET actor_name = 'Mallory', hash = {hash} WHERE account_id = {} AND sequence = 4",
            uuid_literal(db, acme.id.0)
        )).await.expect("tamper");
        let v = log::verify(&store, acme.id).await.expect("verify");
        let broken = v.first_broken.expect("reported");
        assert_eq!(broken.sequence, 4, "{}", broken.reason);
        assert!(broken.reason.contains("newest"), "{}", broken.reason);
    }

    async fn a_deleted_newest_row_with_a_lowered_head_is_reported(store, db) {
        let acme = account(&store, "Acme").await;
        record_moves(&store, acme.id, 3).await;
        allow_log_tampering(db).await;
        let id = uuid_literal(db, acme.id.0);
        execute_raw(db, &format!(
            "DELETE FROM events WHERE account_id = {id} AND sequence = 4; \
             UPDATE event_chains SET last_sequence = 3 WHERE account_id = {id}"
        )).await.expect("tamper");
        let v = log::verify(&store, acme.id).await.expect("verify");
        let broken = v.first_broken.expect("reported");
        assert_eq!(broken.sequence, 3, "{}", broken.reason);
        assert!(broken.reason.contains("newest"), "{}", broken.reason);
    }

    async fn a_forged_tail_passes_the_walk_but_not_the_anchor(store, db) {
        let acme = account(&store, "Acme").await;
        record_moves(&store, acme.id, 4).await;
        let anchor = log::verify(&store, acme.id).await.expect("verify").head.expect("head");
        assert_eq!(anchor.sequence, 5);
        // The anchor is written down as text and read back.
        let anchor = Anchor::parse(&anchor.to_string()).expect("anchor round-trips");
        record_moves(&store, acme.id, 2).await;

        forge_tail(&store, db, acme.id, 3, "Mallory").await;
        let walked = log::verify(&store, acme.id).await.expect("verify");
        assert_eq!(walked.first_broken, None, "a consistent forgery fools a walk of the database alone");
        let v = log::verify_to_anchors(&store, acme.id, std::slice::from_ref(&anchor)).await.expect("verify");
        let broken = v.first_broken.expect("the anchor catches it");
        assert_eq!(broken.sequence, 5);
        assert!(broken.reason.contains("anchored"), "{}", broken.reason);
    }

    async fn an_anchor_past_a_cut_tail_is_reported(store, db) {
        let acme = account(&store, "Acme").await;
        record_moves(&store, acme.id, 4).await;
        let anchor = log::verify(&store, acme.id).await.expect("verify").head.expect("head");
        // Cut the last two events and move the head back consistently.
        allow_log_tampering(db).await;
        let id = uuid_literal(db, acme.id.0);
        let hash3 = bytes_literal(db, &log::get(&store, acme.id, 3).await.expect("event 3").hash);
        execute_raw(db, &format!(
            "DELETE FROM events WHERE account_id = {id} AND sequence > 3; \
             UPDATE event_chains SET last_sequence = 3, last_hash = {hash3} WHERE account_id = {id}"
        )).await.expect("tamper");
        assert_eq!(log::verify(&store, acme.id).await.expect("verify").first_broken, None);
        let v = log::verify_to_anchors(&store, acme.id, std::slice::from_ref(&anchor)).await.expect("verify");
        let broken = v.first_broken.expect("reported");
        assert!(broken.reason.contains("past the chain's end"), "{}", broken.reason);
    }

    async fn a_removed_chain_head_is_reported(store, db) {
        let acme = account(&store, "Acme").await;
        record_moves(&store, acme.id, 2).await;
        execute_raw(db, &format!("DELETE FROM event_chains WHERE account_id = {}", uuid_literal(db, acme.id.0)))
            .await
            .expect("tamper");
        let broken = log::verify(&store, acme.id).await.expect("verify").first_broken.expect("reported");
        assert!(broken.reason.contains("no chain head"), "{}", broken.reason);
    }

    async fn verify_while_four_writers_record_reports_intact_every_time(store) {
        let acme = account(&store, "Acme").await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        for _ in 0..4 {
            let (store, stop) = (store.clone(), stop.clone());
            writers.push(tokio::spawn(async move {
                // Paced, so the chain (which every walk reads in full) stays short.
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    record_moves(&store, acme.id, 1).await;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }));
        }
        let mut heads = Vec::new();
        for run in 0..100 {
            let v = log::verify(&store, acme.id).await.expect("verify");
            assert_eq!(v.first_broken, None, "run {run}");
            heads.push(v.head.expect("head").sequence);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for w in writers {
            w.await.expect("writer");
        }
        assert!(heads.last() > heads.first(), "the writers recorded during the walks: {heads:?}");
    }

    async fn numbers_whose_text_the_database_rewrites_still_verify(store) {
        // PostgreSQL's `jsonb` hands numbers back in its own text (`1e+16` as
        // `10000000000000000`, `-0.0` as `0.0`); an honest row holding them must still
        // verify, on both engines.
        let acme = account(&store, "Acme").await;
        let snapshot = serde_json::json!({
            "estimate": 1e16,
            "delta": -0.0,
            "ratio": 1.5e-7,
            "tiny": 1.2345678901234567e-300,
            "huge": 1e300,
            "big": 18_446_744_073_709_551_615_u64,
            "low": i64::MIN,
            "two": 2.0,
            "list": [0.1, -3.0, 2.5e22],
        });
        let mut tx = store.begin().await.expect("begin");
        chronicle::events::record(
            &mut tx,
            acme.id,
            &member("Bob"),
            &card_moved(&card_ref("Fix login")),
            RecordOptions { snapshot: Some(snapshot), ..RecordOptions::default() },
        )
        .await
        .expect("record");
        tx.commit().await.expect("commit");
        let v = log::verify(&store, acme.id).await.expect("verify");
        assert!(v.first_broken.is_none(), "{:?}", v.first_broken);
        assert_eq!(v.checked, 2);
    }

    async fn a_row_of_an_unknown_hash_format_is_reported_not_guessed(store, db) {
        let acme = account(&store, "Acme").await;
        record_moves(&store, acme.id, 1).await;
        allow_log_tampering(db).await;
        execute_raw(db, &format!(
            "UPDATE events SET hash_format = 9 WHERE account_id = {} AND sequence = 2",
            uuid_literal(db, acme.id.0)
        )).await.expect("tamper");
        let v = log::verify(&store, acme.id).await.expect("verify");
        let broken = v.first_broken.expect("reported");
        assert_eq!(broken.sequence, 2);
        assert!(broken.reason.contains("hash format 9"), "{}", broken.reason);
    }
}
