//! compliancectl: import benchmark results, read reports, validate GlobalReports, show a
//! GlobalReport's scheduling status, serve the reports on this machine.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad input or configuration, 3 `--fail-on`
//! found nodes at or below the level, or failures new since the previous report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use compliance::failure::{self, EXIT_FAIL_ON, EXIT_OK, Failure};
use compliance::settings::FailOn;
use compliance::settings::{self, LogConfig, RawEnv};
use compliance::{changes, files, logging, output, show, status};
use compliance_core::error::ErrorKind;
use compliance_core::import;
use compliance_core::model::{ReportDocument, TextInterner};
use compliance_core::render::{self, Download, write_download};
use compliance_core::time;
use compliance_core::version::KubernetesVersion;
use compliance_kube::{COMPLIANCECTL, ClusterWaivers, KubeSource, ReportSource, Resources};
use compliance_store::elastic::TemplateAction;
use compliance_store::{BlockingStore, Datastore, OpenMode, ReportHead};

#[derive(Parser)]
#[command(
    name = "compliancectl",
    version,
    about = "CIS Kubernetes benchmark reports: import results, read reports, validate GlobalReports"
)]
struct Cli {
    /// Where documents and reports are stored: `sqlite:PATH`, or `elastic` for the
    /// cluster that ELASTIC_URL / ELASTIC_HOST name. Default: Elasticsearch when
    /// ELASTIC_URL or ELASTIC_HOST is set, else COMPLIANCE_DATASTORE, else sqlite:compliance.db.
    #[arg(long, global = true)]
    datastore: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Store benchmark results.
    #[command(subcommand)]
    Import(ImportCommand),
    /// List, show and download stored reports.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Prepare an Elasticsearch cluster (ELASTIC_* variables).
    #[command(subcommand)]
    Elastic(ElasticCommand),
    /// Accepted risks (GlobalReportWaivers, docs/waivers.md).
    #[command(subcommand)]
    Waivers(WaiversCommand),
    /// Check GlobalReport, GlobalReportType and GlobalReportWaiver manifests without
    /// storing anything.
    Validate {
        /// A YAML file or a directory of them.
        #[arg(short = 'f', long = "filename")]
        path: PathBuf,
    },
    /// Serve the stored reports on this machine: compliance-server's API and pages over
    /// plain HTTP, without authentication. Stop with Ctrl-C.
    Serve(ServeArgs),
    /// Delete the benchmark documents and reports older than their retention now
    /// (COMPLIANCE_BENCHMARK_RETENTION, COMPLIANCE_REPORT_RETENTION, default 91d each).
    /// SQLite only: Elasticsearch deletes old indices by the lifecycle policies that
    /// `elastic setup` installs.
    Prune(PruneArgs),
    /// Print or write the GlobalReport, GlobalReportType and GlobalReportWaiver
    /// CustomResourceDefinitions.
    Crds {
        /// API group to define them in. Clusters running Calico's API server, which serves
        /// projectcalico.org itself, need another group (then set COMPLIANCE_API_GROUP).
        #[arg(long, default_value = compliance_kube::crd::DEFAULT_GROUP)]
        group: String,
        /// Write one file per CRD into this directory instead of printing them.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Where to listen (IP:PORT). Loopback only, unless --allow-remote-unauthenticated.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Listen beyond loopback although nobody is authenticated: whoever reaches the port
    /// reads every report. In a cluster, run compliance-server instead.
    #[arg(long)]
    allow_remote_unauthenticated: bool,
    /// Export a series per failing test of each node on /metrics
    /// (compliance_node_test_failed), as COMPLIANCE_METRICS_PER_TEST=true does for
    /// compliance-server.
    #[arg(long)]
    metrics_per_test: bool,
}

#[derive(Args)]
struct PruneArgs {
    /// How long benchmark documents are kept (`91d`, `2160h`, `1y`, `forever`; at least
    /// 36h). Default: COMPLIANCE_BENCHMARK_RETENTION, else 91d.
    #[arg(long)]
    benchmark_retention: Option<String>,
    /// How long reports are kept, by their endTime (`91d`, `forever`). Default:
    /// COMPLIANCE_REPORT_RETENTION, else 91d.
    #[arg(long)]
    report_retention: Option<String>,
    /// Count what would be deleted, and delete nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand)]
enum WaiversCommand {
    /// Every GlobalReportWaiver by name: owner, expiry and whether it is in force at
    /// `--at`, what it covers, and the invalid ones with their problems. From the
    /// Kubernetes API (KUBECONFIG or in-cluster; COMPLIANCE_API_GROUP picks the group), or
    /// from YAML files with `-f`. Needs no store.
    List {
        /// A YAML file or a directory of them, instead of the Kubernetes API.
        #[arg(short = 'f', long = "filename")]
        path: Option<PathBuf>,
        /// When to judge expiry: RFC 3339, `now` or `now+7d` (a report whose window ends
        /// then applies the waivers listed as in force). Default: now.
        #[arg(long)]
        at: Option<String>,
        /// Print the waivers as JSON: name, spec, state (`inForce`, `expired`,
        /// `invalid`), expires (UTC) and problems.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ElasticCommand {
    /// Install or update the index templates, and check existing indices' mappings.
    /// Safe to repeat.
    Setup,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// kube-bench `--json` output; all FILEs are one run of one node.
    KubeBench(KubeBenchArgs),
    /// Benchmark documents in the docs/spec.md §3 schema, one JSON object per line (`-` for stdin).
    Benchmarks { file: PathBuf },
}

#[derive(Args)]
struct KubeBenchArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Node the results belong to. Default: this machine's host name.
    #[arg(long)]
    node: Option<String>,
    /// When the checks ran: RFC 3339, `now` or `now-2h`. Default: now.
    #[arg(long)]
    time: Option<String>,
    /// The node's Kubernetes version (1.29.3, v1.29.3-eks-1a2b3c; stored as 1.29.3).
    /// Default: kube-bench's detected_version, if any.
    #[arg(long = "k8s-version")]
    k8s_version: Option<KubernetesVersion>,
    /// Cluster name stored with the document. Default: ELASTIC_INDEX_SUFFIX, else `cluster`.
    #[arg(long)]
    cluster: Option<String>,
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Every stored report, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One report: per-node ratings and the top failed tests.
    Show {
        /// Report id (see `reports list`).
        #[arg(required_unless_present = "latest")]
        id: Option<String>,
        /// The newest report of this GlobalReport instead of an id.
        #[arg(long, conflicts_with = "id")]
        latest: Option<String>,
        /// Print the whole report document as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 3 when a node rates at or below this level (low, med), when a failure is
        /// new since the report before it of the same GlobalReport and no waiver accepts
        /// it (new), or either (med,new).
        #[arg(long = "fail-on", value_parser = parse_fail_on)]
        fail_on: Option<FailOn>,
    },
    /// What changed between two reports of one GlobalReport: new, persisting, resolved
    /// and gone failures, nodes added, removed and rerated. Default output: the counts and
    /// the changes (persisting failures only with --all).
    Diff {
        /// The older report's id, then the newer one's.
        #[arg(num_args = 2, value_names = ["OLD_ID", "NEW_ID"], required_unless_present = "latest")]
        ids: Vec<String>,
        /// The newest report of this GlobalReport and the one before it, instead of ids.
        #[arg(long, conflicts_with = "ids")]
        latest: Option<String>,
        /// Print the diff as JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Write diff.csv (one row per failure of either report) to standard output.
        #[arg(long)]
        csv: bool,
        /// List persisting failures too.
        #[arg(long)]
        all: bool,
        /// `new`: exit 3 when a failure is new and no waiver accepts it.
        #[arg(long = "fail-on", value_parser = parse_fail_on_new)]
        fail_on: Option<FailOn>,
    },
    /// The lifecycle of a GlobalReport's findings (node × test) over its latest reports:
    /// state, first failed, failing since, resolved at, reopened.
    Findings {
        /// The GlobalReport's name.
        name: String,
        /// Only the findings of this node.
        #[arg(long)]
        node: Option<String>,
        /// Only the findings of this test number.
        #[arg(long)]
        test: Option<String>,
        /// Print the findings as JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Write findings.csv to standard output.
        #[arg(long)]
        csv: bool,
        /// How many of the latest reports to read.
        #[arg(long, default_value_t = compliance_store::DEFAULT_LIFECYCLE_REPORTS, value_parser = clap::value_parser!(u64).range(1..=1000))]
        reports: u64,
    },
    /// Write a report's downloads (the six every report has unless --format is given).
    Download {
        id: String,
        /// A download by name (total-summary.csv, node-summary.csv, failed-tests.csv,
        /// all-tests.csv, ui-summary.json, node-provenance.csv, junit.xml,
        /// oscal-assessment-results.json), or csv (the four CSV files of Calico's type),
        /// junit (junit.xml) or oscal (oscal-assessment-results.json). May repeat.
        #[arg(long = "format", value_parser = parse_format)]
        formats: Vec<Formats>,
        /// Directory to write into; `-` writes a single format to standard output.
        #[arg(long, short = 'o', default_value = ".")]
        output: PathBuf,
    },
    /// Delete stored reports, each whole (its nodes with it). Every id is checked first:
    /// when one is unknown nothing is deleted (exit 2). Asks for confirmation on a
    /// terminal; elsewhere --yes is required.
    Delete {
        /// Report ids (see `reports list`).
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// Delete without asking.
        #[arg(long)]
        yes: bool,
    },
    /// A GlobalReport's scheduling status: its condition, Jobs and next window, read from
    /// the Kubernetes API (KUBECONFIG or in-cluster; COMPLIANCE_API_GROUP picks the group).
    /// Needs no store.
    Status {
        /// The GlobalReport's name.
        name: String,
        /// Print the name and the status object as JSON.
        #[arg(long)]
        json: bool,
        /// The controller's TIGERA_COMPLIANCE_JOB_START_DELAY, when not the default: how
        /// long after its window's end a Job is due.
        #[arg(long = "start-delay", value_parser = parse_start_delay, default_value = "30m")]
        start_delay: chrono::Duration,
    },
}

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    settings::parse_fail_on("--fail-on", s).map_err(|e| e.message)
}

/// `reports diff` compares two reports, so only `new` applies to it.
fn parse_fail_on_new(s: &str) -> Result<FailOn, String> {
    match parse_fail_on(s)? {
        f if f == FailOn::NEW => Ok(f),
        _ => Err(format!(
            "{s:?}: reports diff accepts only new (the levels apply to one report: reports show --fail-on)"
        )),
    }
}

fn parse_start_delay(s: &str) -> Result<chrono::Duration, String> {
    settings::parse_duration("--start-delay", s).map_err(|e| e.message)
}

/// What one `--format` asks for: a download by name, or a group by its short name.
#[derive(Clone, Debug)]
struct Formats(Vec<Download>);

fn parse_format(s: &str) -> Result<Formats, String> {
    let group: &[Download] = match s {
        "csv" => &[
            Download::TotalSummary,
            Download::NodeSummary,
            Download::FailedTests,
            Download::AllTests,
        ],
        "junit" => &[Download::Junit],
        "oscal" => &[Download::OscalAssessmentResults],
        name => {
            return Download::from_name(name)
                .map(|d| Formats(vec![d]))
                .ok_or_else(|| {
                    format!(
                        "unknown format {s:?}; known: csv, junit, oscal, {}",
                        Download::all()
                            .iter()
                            .chain(Download::always())
                            .chain(Download::exports())
                            .map(|d| d.file_name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
        }
    };
    Ok(Formats(group.to_vec()))
}

/// The downloads `formats` ask for, each once, in the order asked; the five of the
/// report type and `node-provenance.csv` when none are given.
fn downloads_asked(formats: Vec<Formats>) -> Vec<Download> {
    if formats.is_empty() {
        return Download::all()
            .iter()
            .chain(Download::always())
            .copied()
            .collect();
    }
    let mut out: Vec<Download> = Vec::new();
    for d in formats.into_iter().flat_map(|f| f.0) {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

fn main() -> ExitCode {
    failure::exit("compliancectl", "command failed", run())
}

fn run() -> Result<u8, Failure> {
    let cli = Cli::parse();
    let env = RawEnv::from_os_vars(std::env::vars_os())?;
    logging::init(LogConfig::from_env(&env)?);
    // Chosen only by the commands that use a store: `validate` and `crds` must work
    // before anything is configured.
    let serving = matches!(cli.command, Command::Serve(_));
    let datastore = || {
        let mut datastore = choose_datastore(cli.datastore.as_deref(), &env)?;
        // One-shot commands get the retry budget; `serve` is a server and keeps the
        // daemons' patience.
        if let (Datastore::Elastic(config), false) = (&mut datastore, serving) {
            settings::elastic::one_shot(config, &env.elastic);
        }
        Ok::<_, Failure>(datastore)
    };
    match cli.command {
        Command::Import(ImportCommand::KubeBench(args)) => {
            import_kube_bench(&datastore()?, args, &env)
        }
        Command::Import(ImportCommand::Benchmarks { file }) => {
            import_benchmarks(&datastore()?, &file, &env)
        }
        Command::Reports(ReportsCommand::Status {
            name,
            json,
            start_delay,
        }) => report_status(&env, &name, json, start_delay),
        Command::Reports(cmd) => reports(&datastore()?, cmd),
        Command::Elastic(ElasticCommand::Setup) => elastic_setup(&datastore()?),
        Command::Serve(args) => serve(&datastore()?, &args, &env),
        Command::Prune(args) => prune(&datastore()?, &args, &env),
        Command::Validate { path } => validate(&path),
        Command::Waivers(WaiversCommand::List { path, at, json }) => {
            list_waivers(&env, path.as_deref(), at.as_deref(), json)
        }
        Command::Crds { group, output_dir } => crds(&group, output_dir.as_deref()),
    }
}

/// `serve`: the reports at http://LISTEN/ until Ctrl-C, on loopback unless told twice.
fn serve(datastore: &Datastore, args: &ServeArgs, env: &RawEnv) -> Result<u8, Failure> {
    let listen = settings::server::parse_listen("--listen", &args.listen)?;
    if settings::server::exposed(listen) && !args.allow_remote_unauthenticated {
        return Err(Failure::invalid(anyhow!(
            "--listen {:?}: serving without authentication beyond this machine shows every \
             report to whoever reaches the port; use a loopback address such as \
             127.0.0.1:8080, or add --allow-remote-unauthenticated",
            args.listen
        )));
    }
    let cluster = settings::cluster(env);
    compliance::server::serve_local(datastore, &cluster, listen, args.metrics_per_test, |addr| {
        println!(
            "serving the reports of {} at http://{addr}/ (Ctrl-C to stop)",
            datastore.describe()
        );
        let _ = std::io::stdout().flush();
    })
}

/// `waivers list`: every waiver of the API or of the files, with its state at `at`.
fn list_waivers(
    env: &RawEnv,
    path: Option<&Path>,
    at: Option<&str>,
    json: bool,
) -> Result<u8, Failure> {
    let at = match at {
        Some(t) => settings::parse_time("--at", t, Utc::now())
            .map_err(|e| Failure::new(ErrorKind::Invalid, e))?,
        None => time::truncate_to_seconds(Utc::now()),
    };
    let waivers = match path {
        Some(path) => Resources::load(path)?.cluster_waivers(),
        None => {
            let kube = settings::kube_settings(env, &COMPLIANCECTL)?;
            KubeSource::connect_for(kube, "GlobalReportWaivers")?.waivers()?
        }
    };
    let (valid, invalid) = match waivers {
        ClusterWaivers::Listed { waivers, invalid } => (waivers, invalid),
        ClusterWaivers::NotServed(advice) => {
            return Err(Failure::new(ErrorKind::Configuration, anyhow!("{advice}")));
        }
    };
    let state = |w: &compliance_core::model::CompiledWaiver| {
        if w.in_force_at(at) {
            "inForce"
        } else {
            "expired"
        }
    };
    let mut out = std::io::stdout().lock();
    if json {
        let mut list: Vec<serde_json::Value> = valid
            .iter()
            .map(|w| {
                serde_json::json!({"name": w.name, "spec": w.spec, "state": state(w),
                    "expires": time::format(&w.expires)})
            })
            .chain(invalid.iter().map(|w| {
                serde_json::json!({"name": w.name, "state": "invalid", "origin": w.origin,
                    "problems": w.errors.iter().map(ToString::to_string).collect::<Vec<_>>()})
            }))
            .collect();
        list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        serde_json::to_writer_pretty(&mut out, &list).map_err(Failure::unavailable)?;
        writeln!(out).map_err(Failure::unavailable)?;
        return Ok(EXIT_OK);
    }
    writeln!(out, "waivers at {}:", time::format(&at)).map_err(Failure::unavailable)?;
    let mut rows: Vec<(String, String)> = valid
        .iter()
        .map(|w| {
            let mut nodes = Vec::new();
            if !w.spec.node_names.is_empty() {
                nodes.push(format!("nodes {}", w.spec.node_names.join(",")));
            }
            if w.spec.node_selector.is_some() {
                nodes.push("a nodeSelector".to_string());
            }
            let nodes = if nodes.is_empty() {
                "every node".to_string()
            } else {
                nodes.join(" or ")
            };
            let reports = if w.spec.reports.is_empty() {
                "every report".to_string()
            } else {
                format!("reports {}", w.spec.reports.join(","))
            };
            let ticket = if w.spec.ticket.is_empty() {
                String::new()
            } else {
                format!(", ticket {}", w.spec.ticket)
            };
            let line = format!(
                "  {} {} (expires {}): owner {}{ticket}; tests {} on {nodes}, {reports}; reason: {}",
                w.name,
                if state(w) == "inForce" { "IN FORCE" } else { "EXPIRED" },
                time::format(&w.expires),
                w.spec.owner,
                w.spec.tests.join(","),
                w.spec.reason.trim()
            );
            (w.name.clone(), line)
        })
        .chain(invalid.iter().map(|w| {
            let problems: Vec<String> = w.errors.iter().map(ToString::to_string).collect();
            (
                w.name.clone(),
                format!("  {} INVALID ({}): {}", w.name, w.origin, problems.join("; ")),
            )
        }))
        .collect();
    rows.sort();
    if rows.is_empty() {
        writeln!(out, "  none").map_err(Failure::unavailable)?;
    }
    for (_, line) in rows {
        writeln!(out, "{line}").map_err(Failure::unavailable)?;
    }
    Ok(EXIT_OK)
}

/// `crds`: the CRDs as one YAML stream on stdout, or one file each in `dir`.
fn crds(group: &str, dir: Option<&Path>) -> Result<u8, Failure> {
    use compliance_kube::crd;
    crd::validate_group(group).map_err(|m| Failure::invalid(anyhow!("--group {group:?}: {m}")))?;
    let files = crd::crd_files(group);
    match dir {
        None => {
            let stream: Vec<&str> = files.iter().map(|(_, yaml)| yaml.as_str()).collect();
            print!("{}", stream.join("---\n"));
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))
                .map_err(Failure::unavailable)?;
            for (name, yaml) in &files {
                let path = dir.join(name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("cannot write {}", path.display()))
                    .map_err(Failure::unavailable)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(EXIT_OK)
}

/// `--datastore` wins over the environment; `elastic` means "the ELASTIC_* cluster".
fn choose_datastore(flag: Option<&str>, env: &RawEnv) -> Result<Datastore, Failure> {
    match flag.map(str::trim) {
        Some("elastic") | Some("elasticsearch") => {
            match settings::elastic::from_env(&env.elastic)? {
                Some(mut c) => {
                    c.retention = settings::retention::from_env(env)?;
                    Ok(Datastore::Elastic(Box::new(c)))
                }
                None => Err(Failure::new(
                    ErrorKind::Configuration,
                    anyhow!(
                        "--datastore elastic needs ELASTIC_URL or ELASTIC_HOST (with ELASTIC_USER/ELASTIC_PASSWORD or ELASTIC_API_KEY as needed)"
                    ),
                )),
            }
        }
        Some(value) => Ok(settings::parse_datastore("--datastore", value)?),
        None => Ok(settings::datastore(env)?),
    }
}

fn elastic_setup(datastore: &Datastore) -> Result<u8, Failure> {
    if !matches!(datastore, Datastore::Elastic(_)) {
        return Err(Failure::new(
            ErrorKind::Configuration,
            anyhow!(
                "elastic setup needs an Elasticsearch cluster: set ELASTIC_URL or ELASTIC_HOST (the store is {})",
                datastore.describe()
            ),
        ));
    }
    // Sends nothing: the first request is setup's own.
    let store = BlockingStore::open(datastore, OpenMode::Existing)?;
    let es = store
        .store()
        .elastic()
        .expect("an Elasticsearch datastore opens an Elasticsearch store");
    let report = store.block_on(es.setup())?;
    let what = |action: &TemplateAction| match action {
        TemplateAction::Created => "created",
        TemplateAction::Updated => "updated",
        TemplateAction::Unchanged => "unchanged",
    };
    for (name, action) in &report.policies {
        println!("lifecycle policy {name}: {}", what(action));
    }
    for (name, action) in &report.templates {
        println!("index template {name}: {}", what(action));
    }
    for (name, action) in &report.aliases {
        println!("write alias {name}: {}", what(action));
    }
    for legacy in &report.legacy {
        println!(
            "index {legacy}: written by an earlier release; still read, but no policy deletes it: \
             delete it once its newest document is older than the retention"
        );
    }
    if report.conflicts.is_empty() {
        println!("existing indices: mappings usable");
        return Ok(EXIT_OK);
    }
    for c in &report.conflicts {
        eprintln!("compliancectl: error: {c}");
    }
    Err(Failure::new(
        ErrorKind::Internal,
        anyhow!(
            "{} existing index field(s) conflict with the mapping the store needs",
            report.conflicts.len()
        ),
    ))
}

/// `prune`: the retention applied now, or counted on a dry run.
fn prune(datastore: &Datastore, args: &PruneArgs, env: &RawEnv) -> Result<u8, Failure> {
    let retention = settings::retention::resolve(
        env,
        args.benchmark_retention
            .as_deref()
            .map(|v| ("--benchmark-retention", v)),
        args.report_retention
            .as_deref()
            .map(|v| ("--report-retention", v)),
    )?;
    if matches!(datastore, Datastore::Elastic(_)) {
        return Err(Failure::new(
            ErrorKind::Configuration,
            anyhow!(
                "prune applies to a SQLite store; {} deletes old data by itself, through the \
                 index lifecycle policies that `compliancectl elastic setup` installs \
                 (docs/elasticsearch.md)",
                datastore.describe()
            ),
        ));
    }
    let store = BlockingStore::open(datastore, OpenMode::Existing)?;
    let now = Utc::now();
    let started = std::time::Instant::now();
    let pruned = store
        .prune(&retention, now, args.dry_run)?
        .expect("a SQLite store prunes");
    let keep = settings::retention::format_retention;
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut line = format!(
        "{}: {verb} {} benchmark documents and {} reports ({} report nodes) \
         past their retention (benchmark documents {}, reports {})",
        datastore.describe(),
        pruned.documents,
        pruned.reports,
        pruned.report_nodes,
        keep(retention.benchmarks),
        keep(retention.reports),
    );
    if !args.dry_run {
        line.push_str(&format!(
            "; {:.1} MB of pages freed for reuse, in {} ms",
            pruned.freed_bytes as f64 / 1e6,
            started.elapsed().as_millis()
        ));
    }
    println!("{line}");
    Ok(EXIT_OK)
}

fn import_kube_bench(
    datastore: &Datastore,
    args: KubeBenchArgs,
    env: &RawEnv,
) -> Result<u8, Failure> {
    let node = match args.node {
        Some(n) if !n.trim().is_empty() => n,
        Some(_) => return Err(Failure::invalid(anyhow!("--node must not be empty"))),
        None => files::host_name(env.hostname.clone())?,
    };
    let timestamp = match &args.time {
        Some(t) => settings::parse_time("--time", t, Utc::now())
            .map_err(|e| Failure::new(ErrorKind::Invalid, e))?,
        None => time::truncate_to_seconds(Utc::now()),
    };
    let mut interner = TextInterner::new();
    let options = import::kube_bench::KubeBenchOptions {
        node_name: node,
        timestamp,
        kubernetes_version: args.k8s_version.clone(),
        cluster: args
            .cluster
            .clone()
            .unwrap_or_else(|| settings::cluster(env)),
    };
    let retention = settings::retention::from_env(env)?;
    let limit = settings::kube_bench_max_output(env)?;
    let imported = files::import_kube_bench(&args.files, &options, limit, &mut interner)?;
    for w in &imported.warnings {
        eprintln!("compliancectl: warning: {w}");
    }
    let doc = imported.document;
    // The distribution's build is not part of the stored version; the user who typed it
    // sees it kept apart.
    let suffix = args.k8s_version.as_ref().and_then(|v| v.suffix());
    let line = format!(
        "imported node {} at {}: {} tests, benchmark {}, Kubernetes {}",
        show::terminal(&doc.node_name),
        time::format(&doc.timestamp),
        doc.tests.len(),
        show::terminal(&doc.version),
        match (doc.kubernetes_version.as_str(), suffix) {
            ("", _) => "unknown".to_string(),
            (version, Some(build)) => format!("{version} (build {build})"),
            (version, None) => version.to_string(),
        },
    );
    let store = BlockingStore::open(datastore, OpenMode::Create)?.with_retention(retention);
    store.put_benchmarks(std::iter::once(Ok(doc)))?;
    println!("{line}");
    Ok(EXIT_OK)
}

fn import_benchmarks(datastore: &Datastore, file: &Path, env: &RawEnv) -> Result<u8, Failure> {
    let retention = settings::retention::from_env(env)?;
    // A document is made from one kube-bench output, so its line has the same limit.
    let max_line = settings::kube_bench_max_output(env)?;
    let reader: Box<dyn std::io::BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file)
            .with_context(|| format!("cannot read {}", file.display()))
            .map_err(Failure::invalid)?;
        Box::new(std::io::BufReader::new(f))
    };
    let store = BlockingStore::open(datastore, OpenMode::Create)?.with_retention(retention);
    let mut interner = TextInterner::new();
    let mut docs =
        import::ndjson::NdjsonReader::new(reader, file, &mut interner).with_max_line(max_line);
    let stored = store.put_benchmarks(
        (&mut docs).map(|r| r.map_err(|e| Box::new(e) as compliance_store::InputError)),
    )?;
    let stats = docs.into_stats();
    println!(
        "imported {stored} documents from {}, skipped {} invalid",
        file.display(),
        stats.skipped
    );
    Ok(EXIT_OK)
}

fn reports(datastore: &Datastore, cmd: ReportsCommand) -> Result<u8, Failure> {
    let store = BlockingStore::open(datastore, OpenMode::Existing)?;
    match cmd {
        ReportsCommand::List { json } => {
            let list = store.all_reports()?;
            let mut out = std::io::stdout().lock();
            if json {
                let rows: Vec<_> = list.iter().map(listing_json).collect();
                serde_json::to_writer_pretty(&mut out, &rows).map_err(Failure::unavailable)?;
                writeln!(out).map_err(Failure::unavailable)?;
            } else {
                print_listing(&mut out, &list).map_err(Failure::unavailable)?;
            }
            Ok(EXIT_OK)
        }
        ReportsCommand::Show {
            id,
            latest,
            json,
            fail_on,
        } => {
            let id = match (id, latest) {
                (Some(id), _) => id,
                (None, Some(name)) => {
                    store.latest_report(&name)?.map(|r| r.id).ok_or_else(|| {
                        Failure::new(
                            ErrorKind::NotFound,
                            anyhow!("no stored report of GlobalReport {name:?}"),
                        )
                    })?
                }
                (None, None) => unreachable!("clap requires an id or --latest"),
            };
            let report = load(&store, &id)?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &report).map_err(Failure::unavailable)?;
                writeln!(out).map_err(Failure::unavailable)?;
            } else {
                show::write_report(&mut out, &report).map_err(Failure::unavailable)?;
            }
            if let Some(fail_on) = fail_on {
                let holds = changes::fail_on_holds(&store, &report, fail_on)?;
                for (condition, text) in &holds {
                    write!(out, "--fail-on {condition}: {text}").map_err(Failure::unavailable)?;
                }
                if !holds.is_empty() {
                    return Ok(EXIT_FAIL_ON);
                }
            }
            Ok(EXIT_OK)
        }
        ReportsCommand::Diff {
            ids,
            latest,
            json,
            csv,
            all,
            fail_on,
        } => {
            let (old_id, new_id) = match (ids.as_slice(), latest) {
                ([old, new], _) => (old.clone(), new.clone()),
                (_, Some(name)) => latest_pair(&store, &name)?,
                _ => unreachable!("clap requires two ids or --latest"),
            };
            let old = findings_of(&store, &old_id)?;
            let new = findings_of(&store, &new_id)?;
            if old.report.report_name != new.report.report_name {
                return Err(Failure::invalid(anyhow!(
                    "report {old_id:?} is of GlobalReport {:?} and report {new_id:?} of {:?}: a diff compares reports of one GlobalReport",
                    old.report.report_name,
                    new.report.report_name
                )));
            }
            let d = compliance_core::report::diff(&old, &new);
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &d).map_err(Failure::unavailable)?;
                writeln!(out).map_err(Failure::unavailable)?;
            } else if csv {
                render::write_diff_csv(&d, &mut out).map_err(Failure::unavailable)?;
            } else {
                changes::write_diff(&mut out, &d, all).map_err(Failure::unavailable)?;
            }
            if fail_on.is_some()
                && let Some(text) = changes::fail_on_new(&d)
            {
                // On standard error when standard output carries JSON or CSV.
                if json || csv {
                    eprint!("--fail-on new: {text}");
                } else {
                    write!(out, "--fail-on new: {text}").map_err(Failure::unavailable)?;
                }
                return Ok(EXIT_FAIL_ON);
            }
            Ok(EXIT_OK)
        }
        ReportsCommand::Findings {
            name,
            node,
            test,
            json,
            csv,
            reports,
        } => {
            let lifecycle = store.lifecycle(&name, reports)?;
            if lifecycle.reports().is_empty() {
                return Err(Failure::new(
                    ErrorKind::NotFound,
                    anyhow!("no stored report of GlobalReport {name:?}"),
                ));
            }
            let mut findings = match &node {
                Some(n) => lifecycle.for_node(n),
                None => lifecycle.findings(),
            };
            if let Some(t) = &test {
                findings.retain(|f| &f.test_number == t);
            }
            let mut out = std::io::stdout().lock();
            if json {
                let doc = serde_json::json!({
                    "reportName": name,
                    "reports": lifecycle.reports(),
                    "findings": findings,
                });
                serde_json::to_writer_pretty(&mut out, &doc).map_err(Failure::unavailable)?;
                writeln!(out).map_err(Failure::unavailable)?;
            } else if csv {
                render::write_findings_csv(&findings, &mut out).map_err(Failure::unavailable)?;
            } else {
                changes::write_lifecycle(&mut out, &name, lifecycle.reports(), &findings)
                    .map_err(Failure::unavailable)?;
            }
            Ok(EXIT_OK)
        }
        ReportsCommand::Download {
            id,
            formats,
            output,
        } => {
            let report = load(&store, &id)?;
            let formats = downloads_asked(formats);
            if output == Path::new("-") {
                let [one] = formats.as_slice() else {
                    return Err(Failure::invalid(anyhow!(
                        "--output - writes one download to standard output; give exactly one --format"
                    )));
                };
                let mut out = std::io::stdout().lock();
                write_download(*one, &report, &mut out).map_err(Failure::unavailable)?;
                out.flush().map_err(Failure::unavailable)?;
            } else {
                let written =
                    output::write_all(&report, &output, &formats).map_err(Failure::unavailable)?;
                for p in written {
                    println!("wrote {}", p.display());
                }
            }
            Ok(EXIT_OK)
        }
        ReportsCommand::Delete { ids, yes } => delete_reports(&store, &ids, yes),
        ReportsCommand::Status { .. } => unreachable!("run() handles status: it needs no store"),
    }
}

/// The reports `ids` name, each once in the order given, or the ids that name none.
fn reports_to_delete(
    ids: &[String],
    heads: Vec<Option<ReportHead>>,
) -> Result<Vec<ReportHead>, Vec<String>> {
    let mut found: Vec<ReportHead> = Vec::new();
    let mut missing = Vec::new();
    for (id, head) in ids.iter().zip(heads) {
        match head {
            Some(h) if !found.iter().any(|f| f.id == h.id) => found.push(h),
            Some(_) => {}
            None => missing.push(id.clone()),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

/// `reports delete`: all the ids or none. Without `--yes`, a terminal is asked and
/// anything else is refused (exit 2) with the list of what would go.
fn delete_reports(store: &BlockingStore, ids: &[String], yes: bool) -> Result<u8, Failure> {
    use std::io::IsTerminal;
    let heads = ids
        .iter()
        .map(|id| store.report_head(id))
        .collect::<Result<Vec<_>, _>>()?;
    let doomed = reports_to_delete(ids, heads).map_err(|missing| {
        Failure::new(
            ErrorKind::NotFound,
            anyhow!(
                "no report with id {}: nothing was deleted",
                missing
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let describe = |h: &ReportHead| {
        format!(
            "{} (GlobalReport {}, window ending {}, {} nodes)",
            h.id,
            h.report_name,
            time::format(&h.end_time),
            h.node_count
        )
    };
    if !yes {
        let listing: String = doomed
            .iter()
            .map(|h| format!("  {}\n", describe(h)))
            .collect();
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(Failure::invalid(anyhow!(
                "reports delete needs --yes when not run from a terminal; it would delete:\n{listing}"
            )));
        }
        eprint!("delete these reports?\n{listing}[y/N] ");
        let mut answer = String::new();
        stdin.read_line(&mut answer).map_err(Failure::unavailable)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing deleted");
            return Ok(EXIT_OK);
        }
    }
    for h in &doomed {
        if store.delete_report(&h.id)? {
            println!("deleted report {}", describe(h));
        } else {
            eprintln!("report {} was already gone", h.id);
        }
    }
    Ok(EXIT_OK)
}

/// `reports status`: one GET of the GlobalReport, as the reporter makes it.
fn report_status(
    env: &RawEnv,
    name: &str,
    json: bool,
    start_delay: chrono::Duration,
) -> Result<u8, Failure> {
    if name.trim().is_empty() {
        return Err(Failure::invalid(anyhow!(
            "the GlobalReport name must not be empty"
        )));
    }
    let kube = settings::kube_settings(env, &COMPLIANCECTL)?;
    let report = KubeSource::connect(kube, name)?.report_resource(name)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &status::to_json(&report))
            .map_err(Failure::unavailable)?;
        writeln!(out).map_err(Failure::unavailable)?;
    } else {
        let timing = compliance_controller::Settings {
            start_delay,
            ..Default::default()
        };
        out.write_all(status::render(&report, &timing, Utc::now()).as_bytes())
            .map_err(Failure::unavailable)?;
    }
    Ok(EXIT_OK)
}

/// The newest report of GlobalReport `name` and the one before it, as (older, newer).
fn latest_pair(store: &BlockingStore, name: &str) -> Result<(String, String), Failure> {
    let series = store.report_series(name, 2)?;
    match series.as_slice() {
        [old, new] => Ok((old.id.clone(), new.id.clone())),
        [_] => Err(Failure::new(
            ErrorKind::NotFound,
            anyhow!("GlobalReport {name:?} has only one stored report: nothing to compare it with"),
        )),
        _ => Err(Failure::new(
            ErrorKind::NotFound,
            anyhow!("no stored report of GlobalReport {name:?}"),
        )),
    }
}

fn findings_of(
    store: &BlockingStore,
    id: &str,
) -> Result<compliance_core::report::ReportFindings, Failure> {
    store.report_findings(id)?.ok_or_else(|| {
        Failure::new(
            ErrorKind::NotFound,
            anyhow!("no report with id {id:?} (see `compliancectl reports list`)"),
        )
    })
}

fn load(store: &BlockingStore, id: &str) -> Result<ReportDocument, Failure> {
    store.get_report(id)?.ok_or_else(|| {
        Failure::new(
            ErrorKind::NotFound,
            anyhow!("no report with id {id:?} (see `compliancectl reports list`)"),
        )
    })
}

fn listing_json(r: &ReportHead) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "reportName": r.report_name,
        "reportTypeName": r.report_type_name,
        "startTime": time::format(&r.start_time),
        "endTime": time::format(&r.end_time),
        "generationTime": time::format(&r.generation_time),
        "nodes": r.node_count,
        "cisBenchmarkSummary": {
            "type": r.summary.kind,
            "highCount": r.summary.high_count,
            "medCount": r.summary.med_count,
            "lowCount": r.summary.low_count,
        },
    })
}

fn print_listing(out: &mut impl Write, list: &[ReportHead]) -> std::io::Result<()> {
    if list.is_empty() {
        return writeln!(out, "no reports stored yet");
    }
    writeln!(
        out,
        "{:<70} {:<20} {:<20} {:>6} {:>5} {:>5} {:>5}",
        "ID", "START", "END", "NODES", "HIGH", "MED", "LOW"
    )?;
    for r in list {
        writeln!(
            out,
            "{:<70} {:<20} {:<20} {:>6} {:>5} {:>5} {:>5}",
            show::terminal(&r.id),
            time::format(&r.start_time),
            time::format(&r.end_time),
            r.node_count,
            r.summary.high_count,
            r.summary.med_count,
            r.summary.low_count
        )?;
    }
    Ok(())
}

fn validate(path: &Path) -> Result<u8, Failure> {
    let res = Resources::load(path)?;
    let problems = res.validate_all();
    for (name, (_, origin)) in &res.reports {
        println!("GlobalReport {name} ({origin})");
    }
    for (name, (_, origin)) in &res.types {
        println!("GlobalReportType {name} ({origin})");
    }
    for w in &res.waivers {
        println!("GlobalReportWaiver {} ({})", w.name, w.origin);
    }
    if res.reports.is_empty() && res.types.is_empty() && res.waivers.is_empty() {
        return Err(Failure::invalid(anyhow!(
            "{}: no GlobalReport, GlobalReportType or GlobalReportWaiver found",
            path.display()
        )));
    }
    if problems.is_empty() {
        println!("valid");
        Ok(EXIT_OK)
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        Err(Failure::invalid(anyhow!(
            "{} problem(s) found",
            problems.len()
        )))
    }
}
