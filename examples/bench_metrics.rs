//! The cost of compliance-server's `/metrics` at scale: a SQLite store holding reports of
//! one GlobalReport with N nodes (default 10,000), served by the server's router on a
//! loopback port in this process and scraped over HTTP.
//!
//! Usage: `bench_metrics [--nodes N] [--per-test]` (build with `--release`;
//! `scripts/bench-server.sh metrics` runs it with and without `--per-test`).
//!
//! It measures, for the server as configured:
//! - `first`: the first scrape, which reads the latest report and its previous one
//!   (node rows and findings indexes) and builds every series;
//! - `unchanged`: scrapes when nothing changed (median of 10), which read report heads
//!   only and encode;
//! - `new_report`: the first scrape after a newer report is stored: that report is read
//!   once (its previous report's findings come from the index cache);
//!
//! with the size of each answer and its number of series, and prints one line:
//!
//! `BENCH_METRICS nodes=N per_test=B series=S bytes=B first_ms=T unchanged_ms=T
//! new_report_ms=T`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{TimeZone, Utc};

use compliance_server::auth::Auth;
use compliance_server::clusters::Clusters;
use compliance_server::{Server, router};
use compliance_store::{OpenMode, SqliteStore, Store};
use compliance_testkit::reports::synthetic_report;

/// A scrape: how long it took, the answer's bytes and its samples.
struct Scrape {
    took: Duration,
    bytes: usize,
    series: usize,
}

async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let started = Instant::now();
    let response = client.get(url).send().await?;
    if response.status() != 200 {
        bail!("/metrics answered {}", response.status());
    }
    let body = response.bytes().await?;
    let took = started.elapsed();
    let text = std::str::from_utf8(&body)?;
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    Ok(Scrape {
        took,
        bytes: body.len(),
        series,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut nodes = 10_000usize;
    let mut per_test = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--nodes" => {
                nodes = args
                    .next()
                    .context("--nodes needs a number")?
                    .parse()
                    .context("--nodes")?
            }
            "--per-test" => per_test = true,
            other => bail!("unknown argument {other:?}: --nodes N, --per-test"),
        }
    }
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStore::open(dir.path().join("compliance.db"), OpenMode::Create)?;
    let store: Store = sqlite.into();
    let day = |d: u32| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
    let started = Instant::now();
    for (d, seed) in [(1, 1), (2, 2)] {
        store
            .put_report(&synthetic_report(nodes, day(d), seed))
            .await?;
    }
    eprintln!(
        "stored two {nodes}-node reports in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let server = Server::new(Clusters::single("cluster", store.clone()), Auth::Open)
        .with_metrics_per_test(per_test);
    let app = router(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();

    let first = scrape(&client, &url).await?;
    let mut unchanged = Vec::new();
    for _ in 0..10 {
        unchanged.push(scrape(&client, &url).await?);
    }
    unchanged.sort_by_key(|s| s.took);
    let median = &unchanged[unchanged.len() / 2];
    store
        .put_report(&synthetic_report(nodes, day(3), 3))
        .await?;
    let new_report = scrape(&client, &url).await?;
    for (what, s) in [
        ("first", &first),
        ("unchanged (median of 10)", median),
        ("new report", &new_report),
    ] {
        eprintln!(
            "{what}: {:.1} ms, {} bytes, {} series",
            ms(s.took),
            s.bytes,
            s.series
        );
    }
    println!(
        "BENCH_METRICS nodes={nodes} per_test={per_test} series={} bytes={} first_ms={:.1} unchanged_ms={:.1} new_report_ms={:.1}",
        median.series,
        median.bytes,
        ms(first.took),
        ms(median.took),
        ms(new_report.took),
    );
    Ok(())
}
