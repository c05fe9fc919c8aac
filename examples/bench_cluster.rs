//! Whole-reporter benchmark: a synthetic cluster in a real SQLite file, then the release
//! `compliance-reporter` binary over it, reporting wall time and peak memory.
//!
//! Usage: `bench_cluster NODES [DOCS_PER_NODE]` (default 24 hourly documents per node).
//! The database is cached under `target/bench-cluster/` so repeated runs measure only the
//! reporter. Run it through `scripts/bench-cluster.sh`, which builds everything in release.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use compliance_core::model::{TextInterner, time};
use compliance_store::sqlite::{OpenMode, SqliteStore};
use compliance_testkit::fixtures;
use compliance_testkit::process::{self as rusage, Who};
use compliance_testkit::synth::{ClusterShape, cluster};

const END: &str = "2026-11-26T00:00:00Z";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args
        .next()
        .context("usage: bench_cluster NODES [DOCS_PER_NODE]")?
        .parse()?;
    let docs_per_node: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(24);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-cluster");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join(format!("cluster-{nodes}x{docs_per_node}.db"));

    if !db.exists() {
        let mut interner = TextInterner::new();
        let run = fixtures::kube_bench(fixtures::LARGEST_OUTPUT, &mut interner);
        let shape = ClusterShape {
            nodes,
            docs_per_node,
            end: time::parse(END)?,
            seed: 42,
        };
        let tmp = db.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let started = Instant::now();
        let store = SqliteStore::open(&tmp, OpenMode::Create)?;
        let stored =
            store.put_benchmarks(cluster(&shape, &run.tests, &run.benchmark_version).map(Ok))?;
        drop(store);
        std::fs::rename(&tmp, &db)?;
        println!(
            "generated {stored} documents ({nodes} nodes × {docs_per_node}, {} tests each) in {:.1} s, database {:.0} MB",
            run.tests.len(),
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&db)?.len() as f64 / 1e6
        );
    }

    let out = dir.join(format!("out-{nodes}"));
    let reporter = root.join("target/release/compliance-reporter");
    if !reporter.exists() {
        bail!(
            "{} is missing: run `cargo build --release --bins` first",
            reporter.display()
        );
    }
    let started = Instant::now();
    let status = Command::new(&reporter)
        .env("COMPLIANCE_DATASTORE", format!("sqlite:{}", db.display()))
        .env("COMPLIANCE_RESOURCES", root.join("examples/reports.yaml"))
        .env("COMPLIANCE_OUTPUT_DIR", &out)
        .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
        .env(
            "TIGERA_COMPLIANCE_REPORT_START_TIME",
            "2026-11-25T00:00:00Z",
        )
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", END)
        .env("LOG_LEVEL", "warning")
        .status()?;
    let wall = started.elapsed();
    if !status.success() {
        bail!("compliance-reporter failed: {status}");
    }
    println!(
        "reporter over {nodes} nodes × {docs_per_node} documents: {:.2} s wall, peak RSS {:.0} MB, downloads {:.0} MB",
        wall.as_secs_f64(),
        rusage::usage(Who::Children).peak_rss_bytes as f64 / (1024.0 * 1024.0),
        dir_size(&out)? as f64 / 1e6
    );
    Ok(())
}

fn dir_size(dir: &PathBuf) -> anyhow::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        total += e?.metadata()?.len();
    }
    Ok(total)
}
