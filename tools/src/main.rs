//! `logstash-mesos-events`: reads, replays, verifies, exports and imports
//! the event log of a logstash-mesos scheduler replica.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use logstash_mesos::events::{Actor, EventType};
use logstash_mesos::journal::JournalError;
use logstash_mesos::journal::offline::Importer;
use logstash_mesos::state::{EventFilter, State};

use logstash_mesos_tools::api::ApiClient;
use logstash_mesos_tools::changes;
use logstash_mesos_tools::dump;
use logstash_mesos_tools::exchange;
use logstash_mesos_tools::progress::Progress;
use logstash_mesos_tools::replay::advance;
use logstash_mesos_tools::source::{Source, SourceError, time_arg};
use logstash_mesos_tools::stats::Stats;
use logstash_mesos_tools::summary::Summary;
use logstash_mesos_tools::verify::{self, ApiView, Finding};

/// Read a replica's event history from its data directory (the replica
/// stopped) or its API (running): dump it, rebuild the state at any point,
/// verify the projections against it, export and import it.
#[derive(Debug, Parser)]
#[command(name = "logstash-mesos-events", version)]
struct Cli {
    /// No progress bar on stderr (there is none when stderr is not a terminal either).
    #[arg(long, short, global = true, env = "LOGSTASH_MESOS_EVENTS_QUIET")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct SourceArgs {
    /// The data directory of a stopped replica (`--data-dir` of the
    /// scheduler). It is read, never written: its journal is copied below
    /// $TMPDIR first. While a replica runs on it, it is refused: use --api then.
    #[arg(long, env = "LOGSTASH_MESOS_EVENTS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The API of a running replica, e.g. `http://replica1:9092`.
    #[arg(long, env = "LOGSTASH_MESOS_EVENTS_API", value_name = "URL")]
    api: Option<String>,
    /// An API token secret, when the replica wants tokens for reads
    /// (`--api-auth-reads`).
    #[arg(long, env = "LOGSTASH_MESOS_EVENTS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file whose first line is the API token secret.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print events as text or JSON lines, filtered.
    Dump {
        #[command(flatten)]
        source: SourceArgs,
        /// Lowest seq, inclusive.
        #[arg(long)]
        from_seq: Option<u64>,
        /// Highest seq, inclusive.
        #[arg(long)]
        to_seq: Option<u64>,
        /// Earliest time, inclusive (RFC 3339).
        #[arg(long, value_parser = time_arg)]
        since: Option<u64>,
        /// Latest time, inclusive (RFC 3339).
        #[arg(long, value_parser = time_arg)]
        until: Option<u64>,
        /// Event types, comma separated or repeated (e.g. `ConfigUpdated,ConfigDeleted`).
        #[arg(long = "type", value_delimiter = ',', value_parser = event_type_arg)]
        types: Vec<EventType>,
        /// Only events about this config.
        #[arg(long)]
        config: Option<String>,
        /// Only events by this actor (`api:alice`, or just the token label `alice`).
        #[arg(long, value_parser = actor_arg)]
        actor: Option<Actor>,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Show long values (config texts) in full.
        #[arg(long)]
        full: bool,
    },
    /// Rebuild the projections as of a seq or time and print them: configs
    /// with their versions, executors, framework.
    Replay {
        #[command(flatten)]
        source: SourceArgs,
        /// A seq or an RFC 3339 time (the last event at or before it); the
        /// whole history by default.
        #[arg(long, value_name = "SEQ|TIME")]
        until: Option<String>,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Replay the whole history and compare with the projections a data
    /// directory stored and, with --api, with what a running replica serves.
    /// Exits 1 on a mismatch.
    Verify {
        #[command(flatten)]
        source: SourceArgs,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Write the whole history as JSON lines (the items of `GET /api/events`).
    Export {
        #[command(flatten)]
        source: SourceArgs,
        /// Write here instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read an export into a new data directory. Start one replica on it
    /// alone first (it converts the history); then add the others.
    Import {
        /// The data directory to create; it must not hold a journal yet.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The export; `-` for stdin.
        #[arg(default_value = "-")]
        input: String,
    },
    /// What changed between two points: configs added, changed (with a
    /// text diff) and removed, settings, framework, executors and tasks.
    Diff {
        #[command(flatten)]
        source: SourceArgs,
        /// A seq or an RFC 3339 time.
        from: String,
        /// A seq or an RFC 3339 time.
        to: String,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Counts by type and actor, the first and last event, size on disk.
    Stats {
        #[command(flatten)]
        source: SourceArgs,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

fn event_type_arg(s: &str) -> Result<EventType, String> {
    EventType::parse(s.trim()).ok_or_else(|| {
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown event type {s:?}; known: {}", known.join(", "))
    })
}

fn actor_arg(s: &str) -> Result<Actor, String> {
    Ok(s.parse().unwrap_or_else(|_| Actor::Api(s.to_owned())))
}

/// How a command ended, when it did not fail.
enum Outcome {
    Done,
    Mismatch,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Mismatch) => ExitCode::from(1),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

impl SourceArgs {
    fn token(&self) -> anyhow::Result<Option<String>> {
        match &self.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the token file {}", path.display()))?;
                Ok(text.lines().next().map(|l| l.trim().to_owned()))
            }
            None => Ok(self.token.clone()),
        }
    }

    fn api_client(&self) -> anyhow::Result<Option<ApiClient>> {
        match &self.api {
            Some(url) => Ok(Some(ApiClient::new(url, self.token()?)?)),
            None => Ok(None),
        }
    }

    /// The one source the command reads.
    fn open(&self) -> anyhow::Result<Source> {
        match (&self.data_dir, &self.api) {
            (Some(_), Some(_)) => bail!("give either --data-dir or --api, not both"),
            (Some(dir), None) => data_dir_source(dir),
            (None, Some(_)) => Ok(Source::Api(self.api_client()?.expect("an --api was given"))),
            (None, None) => bail!(
                "say where the events are: --data-dir DIR (a stopped replica) or --api URL (a running one)"
            ),
        }
    }
}

fn data_dir_source(dir: &std::path::Path) -> anyhow::Result<Source> {
    match Source::data_dir(dir) {
        Err(SourceError::Journal(JournalError::Locked(_))) => bail!(
            "{} is in use by a running replica: stop it first, or read the replica \
             through its API with --api URL",
            dir.display()
        ),
        other => Ok(other?),
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let quiet = cli.quiet;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let outcome = match cli.command {
        Command::Dump {
            source,
            from_seq,
            to_seq,
            since,
            until,
            types,
            config,
            actor,
            format,
            full,
        } => {
            let source = source.open()?;
            let last = source.last_seq()?;
            let mut lo = from_seq.unwrap_or(1).max(1);
            let mut hi = to_seq.unwrap_or(last).min(last);
            if let Some(since) = since {
                lo = lo.max(source.seq_at_time(since.saturating_sub(1))? + 1);
            }
            if let Some(until) = until {
                hi = hi.min(source.seq_at_time(until)?);
            }
            let filter = EventFilter {
                types,
                config,
                actor,
            };
            let mut progress =
                Progress::new(Some(hi.saturating_sub(lo).saturating_add(1)), quiet, "dump");
            if lo <= hi {
                for env in source.events(lo, hi) {
                    let env = env?;
                    progress.inc();
                    if !filter.matches(&env) {
                        continue;
                    }
                    match format {
                        Format::Text => writeln!(out, "{}", dump::text_line(&env, full))?,
                        Format::Json => exchange::write_event(&mut out, &env)?,
                    }
                }
            }
            progress.finish();
            Outcome::Done
        }
        Command::Replay {
            source,
            until,
            format,
        } => {
            let source = source.open()?;
            let until = match until {
                Some(point) => source.resolve(&point)?,
                None => source.last_seq()?,
            };
            let mut progress = Progress::new(Some(until), quiet, "replay");
            let mut state = State::default();
            advance(&mut state, &source, until, false, &mut progress, |_, _| {})?;
            progress.finish();
            emit(&mut out, format, &Summary::of(&state), Summary::to_text)?;
            Outcome::Done
        }
        Command::Diff {
            source,
            from,
            to,
            format,
        } => {
            let source = source.open()?;
            let (a, b) = (source.resolve(&from)?, source.resolve(&to)?);
            let mut progress = Progress::new(Some(a.max(b)), quiet, "replay");
            let mut state = State::default();
            advance(
                &mut state,
                &source,
                a.min(b),
                false,
                &mut progress,
                |_, _| {},
            )?;
            let first = Summary::of(&state);
            advance(
                &mut state,
                &source,
                a.max(b),
                false,
                &mut progress,
                |_, _| {},
            )?;
            let second = Summary::of(&state);
            progress.finish();
            let (before, after) = if a <= b {
                (first, second)
            } else {
                (second, first)
            };
            let found = changes::changes(&before, &after);
            emit(&mut out, format, &found, |found| {
                format!(
                    "Changes from event {a} to event {b}:\n{}",
                    changes::to_text(found)
                )
            })?;
            Outcome::Done
        }
        Command::Stats { source, format } => {
            let source = source.open()?;
            let last = source.last_seq()?;
            let mut progress = Progress::new(Some(last), quiet, "stats");
            let mut stats = Stats {
                size_on_disk: source.size_on_disk(),
                ..Stats::default()
            };
            for env in source.events(1, last) {
                stats.add(&env?);
                progress.inc();
            }
            progress.finish();
            emit(&mut out, format, &stats, Stats::to_text)?;
            Outcome::Done
        }
        Command::Export { source, output } => {
            let source = source.open()?;
            let last = source.last_seq()?;
            let mut progress = Progress::new(Some(last), quiet, "export");
            let mut sink: Box<dyn Write> = match &output {
                Some(path) => Box::new(BufWriter::new(
                    File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(&mut out),
            };
            for env in source.events(1, last) {
                exchange::write_event(&mut sink, &env?)?;
                progress.inc();
            }
            sink.flush()?;
            progress.finish();
            if output.is_some() {
                eprintln!("exported {last} events");
            }
            Outcome::Done
        }
        Command::Import { data_dir, input } => {
            let reader: Box<dyn BufRead> = if input == "-" {
                Box::new(BufReader::new(io::stdin()))
            } else {
                Box::new(BufReader::new(
                    File::open(&input).with_context(|| format!("opening {input}"))?,
                ))
            };
            let mut importer = Importer::create(&data_dir)?;
            let mut progress = Progress::new(None, quiet, "import");
            for item in exchange::read_events(reader) {
                let (line, env) = item?;
                importer.push(env).with_context(|| format!("line {line}"))?;
                progress.inc();
            }
            progress.finish();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let state = runtime.block_on(importer.finish())?;
            eprintln!(
                "imported {} events into {}; start one replica on it alone first (it converts \
                 the history), then add the others",
                state.last_seq,
                data_dir.display()
            );
            Outcome::Done
        }
        Command::Verify { source, format } => {
            let findings = verify_command(&source, quiet)?;
            emit(&mut out, format, &findings, |f| verify::to_text(f))?;
            if findings.iter().all(|f| f.ok) {
                Outcome::Done
            } else {
                Outcome::Mismatch
            }
        }
    };
    out.flush()?;
    Ok(outcome)
}

/// Writes `value` as text for people or as pretty JSON for scripts.
fn emit<T: serde::Serialize + ?Sized>(
    out: &mut impl Write,
    format: Format,
    value: &T,
    text: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    match format {
        Format::Text => write!(out, "{}", text(value))?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, value)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// How often `verify --api` re-reads a replica that keeps moving on.
const API_ATTEMPTS: usize = 5;

fn verify_command(args: &SourceArgs, quiet: bool) -> anyhow::Result<Vec<Finding>> {
    // The data directory when given, else the API is the source; the API,
    // when given, is also compared with the replay.
    let source = match (&args.data_dir, &args.api) {
        (Some(dir), _) => data_dir_source(dir)?,
        (None, Some(_)) => Source::Api(args.api_client()?.expect("an --api was given")),
        (None, None) => {
            bail!("say what to verify: --data-dir DIR (a stopped replica), --api URL, or both")
        }
    };
    let compare_with = args.api_client()?;
    let mut findings = Vec::new();
    let last = source.last_seq()?;
    let mut progress = Progress::new(Some(last), quiet, "verify");
    let mut state = State::default();
    if let Source::DataDir(data) = &source {
        let stored = match data.projection_snapshot() {
            Ok(stored) => stored,
            Err(e) => {
                findings.push(Finding::failed(
                    "the stored projections can be read",
                    e.to_string(),
                ));
                None
            }
        };
        let raft = match data.raft_snapshot() {
            Ok(raft) => raft,
            Err(e) => {
                findings.push(Finding::failed(
                    "the Raft snapshot can be read",
                    e.to_string(),
                ));
                None
            }
        };
        let mut differing_event = None;
        advance(
            &mut state,
            &source,
            last,
            true,
            &mut progress,
            |state, env| {
                if let Some(stored) = stored.as_ref().filter(|s| s.last_seq == env.seq) {
                    findings.push(verify::compare_states(
                        &format!(
                            "the stored projections (at event {}) equal the replay",
                            env.seq
                        ),
                        state,
                        stored,
                    ));
                }
                if let Some((snapshot_state, events)) = &raft {
                    if let Some(copy) = events.get(env.seq as usize - 1)
                        && copy != env
                        && differing_event.is_none()
                    {
                        differing_event = Some(env.seq);
                    }
                    if snapshot_state.last_seq == env.seq {
                        findings.push(verify::compare_states(
                            &format!(
                                "the Raft snapshot's projections (at event {}) equal the replay",
                                env.seq
                            ),
                            state,
                            snapshot_state,
                        ));
                    }
                }
            },
        )?;
        if let Some(stored) = stored.as_ref().filter(|s| s.last_seq > last) {
            findings.push(Finding::failed(
                "the stored projections are within the history",
                format!(
                    "they are at event {}, the history ends at {last}",
                    stored.last_seq
                ),
            ));
        }
        if let Some((_, events)) = &raft {
            let check = format!(
                "the Raft snapshot's history ({} events) equals the stored one",
                events.len()
            );
            match differing_event {
                Some(seq) => findings.push(Finding::failed(check, format!("event {seq} differs"))),
                None if events.len() as u64 > last => findings.push(Finding::failed(
                    check,
                    format!("it holds {} events, the history {last}", events.len()),
                )),
                None => findings.push(Finding::ok(check)),
            }
        }
    } else {
        advance(&mut state, &source, last, false, &mut progress, |_, _| {})?;
    }
    progress.finish();
    // Reaching here means every event was read and decoded in order.
    findings.insert(
        0,
        Finding::ok(format!(
            "the history reads back: events 1 to {last}, dense, all decode"
        )),
    );

    if let Some(api) = &compare_with {
        let mut attempt = 1;
        loop {
            let summary = Summary::of(&state);
            let names: Vec<String> = summary.histories.iter().map(|h| h.name.clone()).collect();
            let served = ApiView::fetch(api, state.last_seq, &names)?;
            let moved_on = served.current.is_none();
            if moved_on && matches!(source, Source::Api(_)) && attempt < API_ATTEMPTS {
                // The replica took writes meanwhile: catch up and compare again.
                let now = source.last_seq()?;
                let mut quiet_progress = Progress::new(None, true, "");
                advance(
                    &mut state,
                    &source,
                    now,
                    false,
                    &mut quiet_progress,
                    |_, _| {},
                )?;
                attempt += 1;
                continue;
            }
            findings.extend(verify::compare_api(
                api.base(),
                &ApiView::of(&summary),
                &served,
            ));
            break;
        }
    }
    Ok(findings)
}
