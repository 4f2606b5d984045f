//! Inboxes: jobs enqueued with the event, delivered once, failures kept to their inbox.

use std::sync::Arc;
use std::time::Duration;

use chronicle::events::catalog::*;
use chronicle::events::{record, RecordOptions};
use chronicle::queue::{self, JobHandler, Worker, WorkerConfig};
use chronicle::testing::{account, card_moved, card_ref, member, FailingInbox, RecordingInbox};
use chronicle::Store;
use tokio::sync::watch;
use uuid::Uuid;

fn config() -> WorkerConfig {
    WorkerConfig {
        poll_interval: Duration::from_millis(200),
        backoff_base: Duration::from_millis(5),
        ..WorkerConfig::default()
    }
}

async fn thread_bodies(
    store: &Store,
    account: chronicle::accounts::AccountId,
    card: Uuid,
) -> Vec<String> {
    chronicle::inbox::card_thread_messages(store, account, card)
        .await
        .expect("thread")
        .into_iter()
        .map(|m| m.body)
        .collect()
}

chronicle::engine_tests! {
    async fn a_card_event_posts_a_system_message_in_the_cards_thread(store) {
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        let mut tx = store.begin().await.expect("begin");
        record(&mut tx, acme.id, &member("Ana"), &card_moved(&c), RecordOptions::default()).await.expect("record");
        tx.commit().await.expect("commit");
        assert_eq!(queue::counts(&store).await.expect("counts").ready, 1, "one card_thread job");

        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Worker::new(store.clone(), config()).run(stopped));
        chronicle::testing::eventually("the thread has the message", async || {
            thread_bodies(&store, acme.id, c.id).await == ["Ana moved Fix login from To do to Doing"]
        }).await;
        // Another account asking for the same card's thread gets nothing.
        let other = account(&store, "Other").await;
        assert!(thread_bodies(&store, other.id, c.id).await.is_empty());
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
    }

    async fn a_delivery_that_runs_twice_does_its_work_once(store) {
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        let mut tx = store.begin().await.expect("begin");
        record(&mut tx, acme.id, &member("Ana"), &card_moved(&c), RecordOptions::default()).await.expect("record");
        tx.commit().await.expect("commit");
        // A worker runs the delivery and dies before completing the job …
        let jobs = queue::claim(&store, "dying", &["inbox".to_owned()], 10, Duration::from_millis(50)).await.expect("claim");
        assert_eq!(jobs.len(), 1);
        let handler = chronicle::inbox::delivery_handler();
        handler.run(&store, &jobs[0]).await.expect("first delivery");
        // … so after the lease another worker runs it again.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = queue::claim(&store, "next", &["inbox".to_owned()], 10, Duration::from_secs(30)).await.expect("claim");
        assert_eq!(again.len(), 1);
        handler.run(&store, &again[0]).await.expect("second delivery");
        assert_eq!(thread_bodies(&store, acme.id, c.id).await.len(), 1);
    }

    async fn a_failing_inbox_dies_alone_while_the_others_get_every_event(store) {
        let recording = RecordingInbox::new("recording");
        store.register_inbox(recording.clone());
        store.register_inbox(Arc::new(FailingInbox { max_attempts: 2 }));
        let acme = account(&store, "Acme").await;
        let c = card_ref("Fix login");
        for _ in 0..3 {
            let mut tx = store.begin().await.expect("begin");
            record(&mut tx, acme.id, &member("Ana"), &card_moved(&c), RecordOptions::default()).await.expect("record");
            tx.commit().await.expect("commit");
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Worker::new(store.clone(), config()).run(stopped));
        chronicle::testing::eventually("every failing delivery is dead", async || {
            queue::counts(&store).await.expect("counts").dead == 4
        }).await;
        chronicle::testing::eventually("the other inboxes are done", async || {
            queue::counts(&store).await.expect("counts").ready == 0
        }).await;
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        let seqs: Vec<i64> = {
            let mut s: Vec<i64> = recording.delivered().iter().map(|d| d.1).collect();
            s.sort();
            s
        };
        assert_eq!(seqs, [1, 2, 3, 4], "account.created and the three moves");
        assert_eq!(thread_bodies(&store, acme.id, c.id).await.len(), 3);
    }

    async fn events_not_about_a_card_post_nothing_to_threads(store) {
        let acme = account(&store, "Acme").await;
        let mut tx = store.begin().await.expect("begin");
        let project = ProjectRef { id: Uuid::now_v7(), name: "Website".into() };
        record(&mut tx, acme.id, &member("Ana"), &ProjectCreated { project }, RecordOptions::default())
            .await.expect("record");
        let comment = CommentAdded { comment_id: Uuid::now_v7(), card: card_ref("x"), body: "hi".into() };
        record(&mut tx, acme.id, &member("Ana"), &comment, RecordOptions::default()).await.expect("record");
        tx.commit().await.expect("commit");
        assert_eq!(queue::counts(&store).await.expect("counts").ready, 0);
    }
}
