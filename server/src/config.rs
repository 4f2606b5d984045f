//! Command line and environment.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use leptos::prelude::LeptosOptions;

/// The embedded default: a SQLite file under ./data, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/chronicle.sqlite3";

#[derive(Debug, Parser)]
#[command(
    name = "chronicle",
    version,
    about = "Chronicle: an event-driven team board"
)]
pub struct Cli {
    /// sqlite://FILE (embedded, default) or postgres://USER@HOST/DB (several nodes).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    /// PostgreSQL: a login that owns the tables, used only to apply migrations, so the
    /// serving login (DATABASE_URL, a member of `chronicle_serving`) need not own them
    /// and cannot alter the event log. Unset: DATABASE_URL migrates too.
    #[arg(long, env = "CHRONICLE_MIGRATE_DATABASE_URL", global = true)]
    pub migrate_database_url: Option<String>,

    #[command(subcommand)]
    command: Option<Command>,

    /// `serve`'s settings, for the bare `chronicle` (which is how `cargo leptos serve`
    /// starts it): parsed from the same flags and environment as `chronicle serve`.
    #[command(flatten)]
    serve: ServeArgs,
}

impl Cli {
    /// Parses the process's arguments (and the environment), exiting with clap's message
    /// on an error.
    pub fn parse_args() -> Self {
        Self::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args`. A `serve` setting given as a flag before another command
    /// (`chronicle --dev-mailbox migrate`) is an error rather than silently dropped;
    /// from the environment it is fine (a deployment sets them for every command).
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let mut cmd = <Self as CommandFactory>::command();
        let matches = cmd.try_get_matches_from_mut(args)?;
        if let Some(other) = matches.subcommand_name().filter(|n| *n != "serve") {
            let serve_only: Vec<String> = cmd
                .get_arguments()
                .map(|a| a.get_id().as_str().to_owned())
                .filter(|id| {
                    !matches!(
                        id.as_str(),
                        "database_url" | "migrate_database_url" | "help" | "version"
                    )
                })
                .collect();
            for id in serve_only {
                let id = id.as_str();
                if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                    return Err(cmd.error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "--{} is a setting of serve, not of {other}",
                            id.replace('_', "-")
                        ),
                    ));
                }
            }
        }
        Self::from_arg_matches(&matches)
    }

    /// The command to run: the one named, or `serve` with the top-level settings.
    pub fn command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the app (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Walk every account's event chain and name the first broken row (exit 1 if any);
    /// print each chain's head as an `anchor` line to keep outside the database.
    Verify {
        /// A file of `anchor TEAM SEQUENCE HASH` lines (an earlier run's output): each
        /// chain must still have that hash at that sequence.
        #[arg(long)]
        anchors: Option<std::path::PathBuf>,
    },
    /// Rebuild a projection from the event log.
    Replay {
        #[command(subcommand)]
        projection: Projection,
    },
    /// Benchmarks against their same-run floor (see docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        which: BenchKind,
    },
    /// Inspect and retry dead jobs.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
}

/// Everything `serve` is told, by flag or environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; defaults to LEPTOS_SITE_ADDR, then 127.0.0.1:3000.
    #[arg(long, env = "CHRONICLE_ADDR")]
    pub addr: Option<SocketAddr>,
    #[command(flatten)]
    pub site: SiteArgs,
}

/// How the site presents itself and sends mail.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SiteArgs {
    /// The address people reach the site at (links in e-mails, the one origin accepted
    /// for changes); defaults to http://<listen address>.
    #[arg(long, env = "CHRONICLE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Show outgoing mail at /dev/mailbox. For development and tests only: the page
    /// shows everyone's sign-in links.
    #[arg(long, env = "CHRONICLE_DEV_MAILBOX")]
    pub dev_mailbox: bool,
    /// Behind a reverse proxy that appends the client's address to X-Forwarded-For:
    /// use its last entry as the client IP (sign-in rate limits). Only with such a proxy.
    #[arg(long, env = "CHRONICLE_TRUST_PROXY")]
    pub trust_proxy: bool,
    /// Deliver mail over SMTP: smtp://user:pass@host:587?tls=required, smtps://…:465
    /// or smtp://host:25. Without it, mail (sign-in links included) goes to the log.
    #[arg(long, env = "CHRONICLE_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of Chronicle's mail.
    #[arg(
        long,
        env = "CHRONICLE_MAIL_FROM",
        default_value = "Chronicle <chronicle@localhost>"
    )]
    pub mail_from: String,
}

#[derive(Debug, Subcommand)]
pub enum Projection {
    /// The activity feed rows.
    Activity {
        /// Only this account (its URL slug); all accounts when omitted.
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchKind {
    /// P1: record() per second vs. a bare one-row insert transaction; batched recording.
    Record {
        #[arg(long, default_value_t = 5000)]
        events: u64,
        #[arg(long, default_value_t = 20)]
        batches: u64,
    },
    /// P2: enqueue and drain no-op jobs; enqueue → start latency.
    Queue {
        #[arg(long, default_value_t = 100_000)]
        jobs: u64,
        #[arg(long, default_value_t = 1)]
        workers: usize,
        #[arg(long, default_value_t = 24)]
        concurrency: usize,
        /// Jobs each worker claims ahead of its free slots (0: none, the default).
        #[arg(long, default_value_t = 0)]
        local_queue: usize,
        #[arg(long, default_value_t = 1000)]
        samples: usize,
    },
    /// P3: live streams — commit → client latency, deliveries/s, memory per stream.
    Stream {
        /// Subscriber counts, one round each.
        #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
        subscribers: Vec<usize>,
        /// Events recorded per round.
        #[arg(long, default_value_t = 100)]
        events: usize,
        /// Events per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// The peer's stream, http://HOST:PORT/PATH (see bench/peers/better-sse).
        #[arg(long)]
        peer: Option<String>,
        /// The peer's process id, for its memory.
        #[arg(long)]
        peer_pid: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// List dead jobs, newest first.
    Dead,
    /// Put a dead job back in the queue.
    Retry { id: uuid::Uuid },
}

impl SiteArgs {
    /// The settings as the start-up log shows them: every value, secrets masked.
    pub fn describe(&self) -> String {
        format!(
            "public_url={} smtp_url={} mail_from={:?} trust_proxy={} dev_mailbox={}",
            self.public_url.as_deref().unwrap_or("(the listen address)"),
            self.smtp_url
                .as_deref()
                .map_or_else(|| "(none: mail goes to the log)".to_owned(), mask_password),
            self.mail_from,
            self.trust_proxy,
            self.dev_mailbox
        )
    }
}

/// `url` with the password of its user-info (`scheme://user:PASSWORD@host`) and any
/// `password=` query parameter replaced by `***`, for logs.
pub fn mask_password(url: &str) -> String {
    let masked = mask_user_info(url);
    match masked.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => masked,
    }
}

fn mask_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user-info ends at the last '@' before the path.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Leptos options from cargo-leptos's environment, with Chronicle's defaults where it
/// is not set (e.g. when the binary runs on its own).
pub fn leptos_options(addr: Option<SocketAddr>) -> anyhow::Result<LeptosOptions> {
    let mut options = leptos::config::get_configuration(None)?.leptos_options;
    if options.output_name.is_empty() {
        options.output_name = "chronicle".into();
    }
    if let Some(addr) = addr {
        options.site_addr = addr;
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_nothing_else() {
        assert_eq!(
            mask_password("smtp://mailer:s3cr@t:x@mail.example.com:587?tls=required"),
            "smtp://mailer:***@mail.example.com:587?tls=required"
        );
        assert_eq!(
            mask_password("postgres://app:pw@127.0.0.1/db"),
            "postgres://app:***@127.0.0.1/db"
        );
        assert_eq!(
            mask_password("postgres://postgres@127.0.0.1/db"),
            "postgres://postgres@127.0.0.1/db"
        );
        assert_eq!(
            mask_password("sqlite://data/x.sqlite3"),
            "sqlite://data/x.sqlite3"
        );
        assert_eq!(mask_password("smtp://host:25/a@b"), "smtp://host:25/a@b");
        assert_eq!(
            mask_password("postgres://h/db?user=app&password=pw&sslmode=require"),
            "postgres://h/db?user=app&password=***&sslmode=require"
        );
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_args(std::iter::once("chronicle").chain(args.iter().copied()))
            .map(Cli::command)
    }

    #[test]
    fn the_bare_command_serves_with_serve_s_flags() {
        let Ok(Command::Serve(bare)) = parse(&["--addr", "127.0.0.1:4000", "--dev-mailbox"]) else {
            panic!("the bare command serves");
        };
        assert_eq!(bare.addr, Some("127.0.0.1:4000".parse().expect("addr")));
        assert!(bare.site.dev_mailbox);
        let Ok(Command::Serve(named)) = parse(&["serve", "--trust-proxy"]) else {
            panic!("serve serves");
        };
        assert!(named.site.trust_proxy);
        assert!(matches!(parse(&["migrate"]), Ok(Command::Migrate)));
        // A serve flag given to another command is refused, not ignored …
        let err = parse(&["--dev-mailbox", "migrate"]).expect_err("refused");
        assert!(
            err.to_string()
                .contains("--dev-mailbox is a setting of serve"),
            "{err}"
        );
        // … but the database URL is everyone's, before or after the command.
        for args in [
            &["--database-url", "sqlite://x.db", "migrate"][..],
            &["migrate", "--database-url", "sqlite://x.db"][..],
        ] {
            let cli = Cli::try_parse_args(std::iter::once("chronicle").chain(args.iter().copied()))
                .expect("parses");
            assert_eq!(cli.database_url, "sqlite://x.db");
            assert!(matches!(cli.command(), Command::Migrate));
        }
    }
}
