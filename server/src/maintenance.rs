//! The maintenance commands behind the CLI: verify, replay, dead jobs.

use chronicle::events::log;
use chronicle::Store;
use indicatif::{ProgressBar, ProgressStyle};

/// Prints each account's chain status and its head as an anchor line
/// (`anchor <team> <sequence> <hash>`); returns whether every chain is intact.
///
/// With `anchors` (text holding such lines, e.g. an earlier run's output kept outside
/// the database), each listed team's chain must still have the anchored hash at the
/// anchored sequence: this catches a tail rewritten with recomputed hashes, which the
/// database alone cannot show.
pub async fn verify(store: &Store, anchors: Option<&str>) -> anyhow::Result<bool> {
    let anchors = match anchors {
        Some(text) => parse_anchors(text)?,
        None => Vec::new(),
    };
    let mut intact = true;
    let accounts = chronicle::accounts::list_accounts(store).await?;
    for (slug, _) in &anchors {
        if !accounts.iter().any(|a| &a.slug == slug) {
            intact = false;
            println!("{slug}: BROKEN: anchored, but no such team in the database");
        }
    }
    for account in accounts {
        // Every anchor kept for the team (a file may collect one a day), in one walk.
        let mine: Vec<log::Anchor> = anchors
            .iter()
            .filter(|(slug, _)| *slug == account.slug)
            .map(|(_, a)| a.clone())
            .collect();
        let v = log::verify_to_anchors(store, account.id, &mine).await?;
        match v.first_broken {
            None => {
                let checked = match mine.iter().map(|a| a.sequence).max() {
                    Some(furthest) if mine.len() == 1 => format!(", anchor at {furthest} matches"),
                    Some(furthest) => {
                        format!(", {} anchors up to {furthest} match", mine.len())
                    }
                    None => String::new(),
                };
                println!(
                    "{}: {} events, chain intact{checked}",
                    account.slug, v.checked
                );
                if let Some(head) = v.head {
                    println!("anchor {} {head}", account.slug);
                }
            }
            Some(b) => {
                intact = false;
                println!(
                    "{}: BROKEN at sequence {} (event {}): {} — {} events before it verified",
                    account.slug, b.sequence, b.event_id, b.reason, v.checked
                );
            }
        }
    }
    Ok(intact)
}

/// The `anchor <team> <sequence> <hash>` lines of `text`; other lines are ignored, so a
/// whole earlier output can serve.
fn parse_anchors(text: &str) -> anyhow::Result<Vec<(String, log::Anchor)>> {
    let mut anchors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("anchor ") else {
            continue;
        };
        let (slug, point) = rest.trim().split_once(' ').ok_or_else(|| {
            anyhow::anyhow!(
                "anchor line {}: expected `anchor TEAM SEQUENCE HASH`",
                n + 1
            )
        })?;
        let anchor = log::Anchor::parse(point).ok_or_else(|| {
            anyhow::anyhow!(
                "anchor line {}: expected a sequence and a 64-digit hex hash",
                n + 1
            )
        })?;
        anchors.push((slug.to_owned(), anchor));
    }
    if anchors.is_empty() {
        anyhow::bail!("no `anchor TEAM SEQUENCE HASH` line in the anchors file");
    }
    Ok(anchors)
}

/// Rebuilds the activity rows of one account (by slug) or all, with a progress bar.
pub async fn replay_activity(store: &Store, slug: Option<&str>) -> anyhow::Result<()> {
    let accounts = match slug {
        Some(slug) => vec![chronicle::accounts::find_account_by_slug(store, slug).await?],
        None => chronicle::accounts::list_accounts(store).await?,
    };
    let style =
        ProgressStyle::with_template("{msg:>20} [{bar:40}] {pos}/{len} events ({per_sec})")?
            .progress_chars("=> ");
    for account in accounts {
        let bar = ProgressBar::new(0)
            .with_style(style.clone())
            .with_message(account.slug.clone());
        let written = chronicle::activity::rebuild(store, account.id, 1000, |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
        bar.finish();
        println!("{}: {written} activity rows rebuilt", account.slug);
    }
    Ok(())
}

pub async fn list_dead_jobs(store: &Store) -> anyhow::Result<()> {
    let dead = chronicle::queue::dead_jobs(store, 100).await?;
    if dead.is_empty() {
        println!("no dead jobs");
    }
    for job in dead {
        println!(
            "{}  {}  {} attempts  {}",
            job.id,
            job.kind,
            job.attempts,
            job.last_error.unwrap_or_default()
        );
    }
    Ok(())
}
