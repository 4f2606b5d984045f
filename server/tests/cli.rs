//! The `chronicle` command line: migrate, verify, replay, jobs.

use std::process::Command;

use chronicle::testing::{account, allow_log_tampering, execute_raw};

fn chronicle(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chronicle"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run chronicle");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn migrate_creates_and_migrates_a_new_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("new/db.sqlite3").display());
    let (ok, out) = chronicle(&url, &["migrate"]);
    assert!(ok, "{out}");
    assert!(out.contains("sqlite database migrated to version"), "{out}");
}

#[tokio::test]
async fn verify_reports_intact_chains_and_names_a_broken_row() {
    let (store, db) = chronicle::testing::sqlite().await;
    account(&store, "Acme").await;
    account(&store, "Beta").await;
    let (ok, out) = chronicle(&db.url, &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("acme: 1 events, chain intact"), "{out}");
    assert!(out.contains("beta: 1 events, chain intact"), "{out}");

    allow_log_tampering(&db).await;
    execute_raw(&db, "UPDATE events SET actor_name = 'Mallory' WHERE event_type = 'account.created' AND account_id = (SELECT id FROM accounts WHERE slug = 'beta')")
        .await
        .expect("tamper");
    let (ok, out) = chronicle(&db.url, &["verify"]);
    assert!(!ok, "a broken chain exits non-zero: {out}");
    assert!(out.contains("beta: BROKEN at sequence 1"), "{out}");
    assert!(out.contains("acme: 1 events, chain intact"), "{out}");
}

#[tokio::test]
async fn verify_prints_anchors_and_checks_them_later() {
    let (store, db) = chronicle::testing::postgres().await;
    let acme = account(&store, "Acme").await;
    let (ok, out) = chronicle(&db.url, &["verify"]);
    assert!(ok, "{out}");
    let anchor_line = out
        .lines()
        .find(|l| l.starts_with("anchor acme 1 "))
        .expect("an anchor line for acme")
        .to_owned();
    // Kept outside the database, e.g. a file written by a daily job.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("anchors.txt");
    std::fs::write(&file, &out).expect("write anchors");
    let anchors = file.to_str().expect("path");
    let (ok, out) = chronicle(&db.url, &["verify", "--anchors", anchors]);
    assert!(ok, "{out}");
    assert!(
        out.contains("acme: 1 events, chain intact, anchor at 1 matches"),
        "{out}"
    );

    // A forger rewrites the whole chain consistently: the database agrees with itself,
    // only the anchor tells.
    chronicle::testing::forge_tail(&store, &db, acme.id, 1, "Mallory").await;
    let (ok, out) = chronicle(&db.url, &["verify"]);
    assert!(ok, "the database alone cannot tell: {out}");
    assert!(
        !out.contains(&anchor_line),
        "the head's hash changed: {out}"
    );
    let (ok, out) = chronicle(&db.url, &["verify", "--anchors", anchors]);
    assert!(!ok, "{out}");
    assert!(out.contains("acme: BROKEN at sequence 1"), "{out}");
    assert!(out.contains("not the one anchored"), "{out}");

    // A file without anchor lines is a clear error, not a silent pass.
    std::fs::write(&file, "nothing here\n").expect("write");
    let (ok, out) = chronicle(&db.url, &["verify", "--anchors", anchors]);
    assert!(!ok);
    assert!(out.contains("no `anchor TEAM SEQUENCE HASH` line"), "{out}");
}

#[tokio::test]
async fn replay_rebuilds_the_activity_feed() {
    let (store, db) = chronicle::testing::postgres().await;
    let acme = account(&store, "Acme").await;
    execute_raw(&db, "DELETE FROM activities")
        .await
        .expect("lose the projection");
    let feed = chronicle::activity::FeedQuery::new(chronicle::activity::FeedScope::Account);
    assert!(chronicle::activity::feed(&store, acme.id, &feed)
        .await
        .expect("feed")
        .is_empty());
    let (ok, out) = chronicle(&db.url, &["replay", "activity"]);
    assert!(ok, "{out}");
    assert!(out.contains("acme: 1 activity rows rebuilt"), "{out}");
    assert_eq!(
        chronicle::activity::feed(&store, acme.id, &feed)
            .await
            .expect("feed")
            .len(),
        1
    );
}

#[tokio::test]
async fn an_unknown_database_url_is_a_clear_error() {
    let (ok, out) = chronicle("mysql://nowhere/x", &["migrate"]);
    assert!(!ok);
    assert!(out.contains("unsupported database URL"), "{out}");
}

/// Kills the server process when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How `cargo leptos serve` and `cargo leptos watch` start the server: no subcommand,
/// every setting in the environment. Each one must be taken, as `serve` would take it.
#[tokio::test]
async fn the_bare_command_takes_serve_settings_from_the_environment() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("db.sqlite3").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_chronicle"))
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "info")
        // Any free port: the settings line tells which.
        .env("CHRONICLE_ADDR", "127.0.0.1:0")
        .env("CHRONICLE_DEV_MAILBOX", "true")
        .env("CHRONICLE_PUBLIC_URL", "https://board.example.test")
        .env("CHRONICLE_SMTP_URL", "smtp://mailer:hunter2@127.0.0.1:1")
        .env("CHRONICLE_MAIL_FROM", "Board <board@example.test>")
        .env("CHRONICLE_TRUST_PROXY", "true")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start chronicle");
    let stdout = child.stdout.take().expect("stdout");
    let _running = Running(child);
    // Read the start-up log (the server logs to stdout) until its settings line, and
    // keep draining it so the server never writes into a closed pipe.
    let (found, settings) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if line.contains("settings:") {
                let _ = found.send(line);
            }
        }
    });
    let settings = settings
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a settings line in the start-up log");
    for expected in [
        "public_url=https://board.example.test",
        "smtp_url=smtp://mailer:***@127.0.0.1:1",
        "mail_from=\"Board <board@example.test>\"",
        "trust_proxy=true",
        "dev_mailbox=true",
        "addr=127.0.0.1:",
    ] {
        assert!(settings.contains(expected), "{expected} in {settings}");
    }
    assert!(
        !settings.contains("hunter2"),
        "the SMTP password is masked: {settings}"
    );

    // The development mailbox is really on: the README's sign-in path works.
    let port: u16 = settings
        .split("addr=127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("the port in the settings line");
    let page = reqwest::get(format!("http://127.0.0.1:{port}/dev/mailbox"))
        .await
        .expect("GET /dev/mailbox")
        .text()
        .await
        .expect("body");
    assert!(page.contains("No mail yet."), "{page}");
    assert!(!page.contains("not found"), "{page}");
}

/// Starts `chronicle serve` on any free port with `envs` and returns it with its
/// start-up log, up to and including the settings line.
fn serve_until_settings(envs: &[(&str, &str)]) -> (Running, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut command = Command::new(env!("CARGO_BIN_EXE_chronicle"));
    command
        .arg("serve")
        .env("RUST_LOG", "info")
        .env("CHRONICLE_ADDR", "127.0.0.1:0")
        .env_remove("CHRONICLE_MIGRATE_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    for (k, v) in envs {
        command.env(k, v);
    }
    // Killed and waited for however the test ends.
    let mut running = Running(command.spawn().expect("start chronicle"));
    let stdout = running.0.stdout.take().expect("stdout");
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = send.send(line);
        }
    });
    let mut log = Vec::new();
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no settings line in the start-up log: {log:#?}"));
        let done = line.contains("settings:");
        log.push(line);
        if done {
            return (running, log);
        }
    }
}

/// A server that logs in as the tables' owner is told it could rewrite its own log; one
/// that serves as a member of `chronicle_serving` is not, but is told when it also holds
/// the owner's login to migrate with.
#[tokio::test]
async fn serve_warns_when_its_login_can_alter_the_event_log() {
    let (_store, db) = chronicle::testing::postgres().await;
    let (_owner, log) = serve_until_settings(&[("DATABASE_URL", &db.owner_url)]);
    assert!(
        log.iter()
            .any(|l| l.contains("can alter the event log") && l.contains("superuser")),
        "{log:#?}"
    );

    // The serving login migrating through the owner's: its own login is fine, but the
    // process holds the owner's, and is told so.
    let login_warning =
        |l: &String| l.contains("the database login") && l.contains("can alter the event log");
    let (_serving, log) = serve_until_settings(&[
        ("DATABASE_URL", &db.url),
        ("CHRONICLE_MIGRATE_DATABASE_URL", &db.owner_url),
    ]);
    assert!(!log.iter().any(login_warning), "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("migrations: through postgres://")),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains("holds the owner's login")),
        "{log:#?}"
    );

    // The production set-up: the serving login alone, on a migrated database. No warning.
    let (_alone, log) = serve_until_settings(&[("DATABASE_URL", &db.url)]);
    assert!(!log.iter().any(|l| l.contains("WARN")), "{log:#?}");
}
