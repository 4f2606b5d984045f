//! The maintenance commands behind the CLI: verify, replay, dead jobs.

use chronicle::events::log;
use chronicle::Store;
use indicatif::{ProgressBar, ProgressStyle};

/// Prints each account's chain status; returns whether every chain is intact.
pub async fn verify(store: &Store) -> anyhow::Result<bool> {
    let mut intact = true;
    for account in chronicle::accounts::list_accounts(store).await? {
        let v = log::verify(store, account.id).await?;
        match v.first_broken {
            None => println!("{}: {} events, chain intact", account.slug, v.checked),
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
