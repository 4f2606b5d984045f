//! Mail delivery over real SMTP: a sign-in request's mail leaves through the queue's
//! `mail.deliver` job and lettre, and arrives at an SMTP server listening on a real
//! port (a minimal receiver written here: greeting, EHLO, MAIL, RCPT, DATA, QUIT).

use std::sync::{Arc, Mutex};

use chronicle::identity::{mail, sign_in, Email};
use chronicle::queue::Worker;
use chronicle_server::mail::SmtpTransport;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the receiver saw: (envelope recipients, message text) per message.
type Received = Arc<Mutex<Vec<(Vec<String>, String)>>>;

async fn smtp_receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("smtp://{}", listener.local_addr().expect("addr"));
    let received: Received = Arc::default();
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut rcpt = Vec::new();
                write.write_all(b"220 test ESMTP\r\n").await.ok();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-test\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        write.write_all(b"354 go ahead\r\n").await.ok();
                        let mut text = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            text.push_str(&l);
                            text.push('\n');
                        }
                        sink.lock()
                            .expect("lock")
                            .push((std::mem::take(&mut rcpt), text));
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.ok();
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    (url, received)
}

chronicle::engine_tests! {
    async fn a_sign_in_mail_is_delivered_over_smtp(store) {
        let (url, received) = smtp_receiver().await;
        let transport = Arc::new(SmtpTransport::new(&url, "Chronicle <chronicle@example.test>").expect("transport"));
        let email = Email::parse("ana@example.com").expect("email");
        let request = sign_in::request_sign_in(&store, &email, &chronicle::testing::origin("192.0.2.1"))
            .await.expect("request");

        let mut worker = Worker::new(store.clone(), Default::default());
        worker.register(Arc::new(mail::MailJobs::new(transport)));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(worker.run(stopped));
        chronicle::testing::eventually("the mail is marked sent", async || {
            mail::recent(&store, 1).await.expect("outbox")[0].sent_at.is_some()
        }).await;
        stop.send(true).expect("stop");
        running.await.expect("join").expect("worker");

        let got = received.lock().expect("lock").clone();
        assert_eq!(got.len(), 1, "exactly one delivery");
        let (rcpt, text) = &got[0];
        assert_eq!(rcpt, &["ana@example.com"]);
        assert!(text.contains("To: ana@example.com"), "{text}");
        assert!(text.contains("From: Chronicle <chronicle@example.test>"), "{text}");
        assert!(text.contains(&format!("Subject: Your Chronicle sign-in code: {}", request.code)), "{text}");
    }
}

#[test]
fn bad_smtp_settings_are_refused_at_start_up() {
    assert!(SmtpTransport::new("ftp://nope", "Chronicle <c@example.test>").is_err());
    assert!(SmtpTransport::new("smtp://127.0.0.1:25", "not an address").is_err());
}
