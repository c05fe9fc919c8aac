//! Findings-over-time benchmark: daily reports of a synthetic cluster in a real SQLite
//! file, then a diff of the last two and the lifecycle over all of them, each timed in a
//! process of its own so that its peak memory is its own.
//!
//! Usage: `bench_findings NODES DAYS [stable|churn]` (default 10000 30 churn). `churn`
//! draws each day's results afresh (about 1 check in 10 flips per node and day: nearly
//! every node × check fails on some day, the worst case for a lifecycle); `stable` gives
//! every day the same results. The database is cached under `target/bench-findings/`.
//! Run it through `scripts/bench-findings.sh`, which builds in release.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::Duration;
use compliance_core::model::{TextInterner, time};
use compliance_core::report::{ReportBuilder, ReportRequest, diff};
use compliance_store::sqlite::{OpenMode, SqliteStore};
use compliance_store::{BlockingStore, Datastore};
use compliance_testkit::fixtures::{self, cis_benchmark_type, daily_report};
use compliance_testkit::process::{self as rusage, Who};
use compliance_testkit::synth::{ClusterShape, cluster};

const LAST_END: &str = "2026-11-26T00:00:00Z";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--phase") {
        return phase(&args[1..]);
    }
    let nodes: usize = args
        .first()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let days: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let mode = args.get(2).map(String::as_str).unwrap_or("churn");
    if !matches!(mode, "churn" | "stable") {
        bail!("mode {mode:?} is not one of churn, stable");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-findings");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join(format!("reports-{nodes}x{days}-{mode}.db"));
    if !db.exists() {
        generate(&db, nodes, days, mode == "churn")?;
    }
    let me = std::env::current_exe()?;
    for what in ["diff", "lifecycle"] {
        let started = Instant::now();
        let out = Command::new(&me)
            .args(["--phase", what])
            .arg(&db)
            .arg(days.to_string())
            .output()?;
        let wall = started.elapsed();
        if !out.status.success() {
            bail!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let child = rusage::usage(Who::Children);
        println!(
            "{what} ({nodes} nodes, {days} daily reports, {mode}): {:.2} s wall (process), peak RSS so far {:.0} MB — {}",
            wall.as_secs_f64(),
            child.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(())
}

/// Computes and stores one report a day, ending at LAST_END.
fn generate(db: &Path, nodes: usize, days: usize, churn: bool) -> anyhow::Result<()> {
    let mut interner = TextInterner::new();
    let run = fixtures::kube_bench(fixtures::LARGEST_OUTPUT, &mut interner);
    let report = daily_report();
    let report_type = cis_benchmark_type();
    let last_end = time::parse(LAST_END)?;
    let tmp = db.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let started = Instant::now();
    let store = SqliteStore::open(&tmp, OpenMode::Create)?;
    for d in 0..days {
        let end = last_end - Duration::days((days - 1 - d) as i64);
        let shape = ClusterShape {
            nodes,
            docs_per_node: 1,
            end,
            seed: if churn { 42 + d as u64 } else { 42 },
        };
        let request = ReportRequest {
            report: &report,
            report_type: &report_type,
            start: end - Duration::days(1),
            end,
            generation_time: end + Duration::minutes(30),
            cluster: "cluster",
            reporter_version: "bench",
        };
        let mut builder = ReportBuilder::new(request)?;
        for doc in cluster(&shape, &run.tests, &run.benchmark_version) {
            builder.offer(doc);
        }
        let (doc, _) = builder.finish();
        store.put_report(&doc)?;
    }
    drop(store);
    std::fs::rename(&tmp, db)?;
    println!(
        "generated {days} daily reports of {nodes} nodes ({} checks each) in {:.1} s, database {:.0} MB",
        run.tests.len(),
        started.elapsed().as_secs_f64(),
        std::fs::metadata(db)?.len() as f64 / 1e6
    );
    Ok(())
}

/// One measured phase, in its own process: `diff DB DAYS` or `lifecycle DB DAYS`.
fn phase(args: &[String]) -> anyhow::Result<()> {
    let [what, db, days] = args else {
        bail!("usage: --phase diff|lifecycle DB DAYS");
    };
    let days: u64 = days.parse()?;
    let store = BlockingStore::open(
        &Datastore::Sqlite(db.into()),
        compliance_store::OpenMode::Existing,
    )?;
    let name = daily_report().metadata.name;
    match what.as_str() {
        "diff" => {
            let series = store.report_series(&name, 2)?;
            let [old, new] = series.as_slice() else {
                bail!("fewer than two reports");
            };
            let started = Instant::now();
            let old = store.report_findings(&old.id)?.context("old report")?;
            let new = store.report_findings(&new.id)?.context("new report")?;
            let read = started.elapsed();
            let started = Instant::now();
            let d = diff(&old, &new);
            let compare = started.elapsed();
            println!(
                "reading both {:.2} s, diff {:.3} s; {} failures before, {} after: {} new, {} resolved, {} persisting",
                read.as_secs_f64(),
                compare.as_secs_f64(),
                old.failures.len(),
                new.failures.len(),
                d.counts.new,
                d.counts.resolved,
                d.counts.persisting
            );
        }
        "lifecycle" => {
            let started = Instant::now();
            let lifecycle = store.lifecycle(&name, days)?;
            let fold = started.elapsed();
            let started = Instant::now();
            let findings = lifecycle.findings();
            println!(
                "reading and folding {} reports {:.2} s, listing {} findings {:.3} s",
                lifecycle.reports().len(),
                fold.as_secs_f64(),
                findings.len(),
                started.elapsed().as_secs_f64()
            );
        }
        other => bail!("phase {other:?} is not one of diff, lifecycle"),
    }
    let me = rusage::usage(Who::Myself);
    println!("cpu {:.2} s", me.cpu.as_secs_f64());
    Ok(())
}
