//! Criterion benchmarks of the pure core and the renderers on a realistic cluster.
//!
//! Nodes run the real checks of `tests/fixtures/cis-1.23-master-newrelic.json` (125 tests
//! with their real descriptions and remediation texts). Sizes of 1,000 and 2,000 nodes show
//! that cost grows linearly; `scripts/bench-cluster.sh` measures the whole reporter on
//! 10,000 nodes with its peak memory.

use std::path::Path;

use chrono::{DateTime, Utc};
use compliance::import::kube_bench::read_kube_bench;
use compliance::model::{GlobalReportType, TextInterner, time};
use compliance::render::{Download, write_download};
use compliance::report::{ReportRequest, compute_report};
use compliance::resources::{ReportSource, Resources};
use compliance::synth::{ClusterShape, cluster};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn end() -> DateTime<Utc> {
    time::parse("2026-11-26T00:00:00Z").unwrap()
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut interner = TextInterner::new();
    let run = read_kube_bench(
        &root.join("tests/fixtures/cis-1.23-master-newrelic.json"),
        &mut interner,
    )
    .unwrap();
    let resources = Resources::load(&root.join("examples/reports.yaml")).unwrap();
    let (report, _) = resources.load_report("daily-cis-results").unwrap();
    let report_type = GlobalReportType::builtin_cis_benchmark();

    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    for nodes in [1_000usize, 2_000] {
        let shape = ClusterShape {
            nodes,
            docs_per_node: 1,
            end: end(),
            seed: 7,
        };
        let docs: Vec<_> = cluster(&shape, &run.tests, &run.benchmark_version).collect();
        let request = ReportRequest {
            report: &report,
            report_type: &report_type,
            start: end() - chrono::Duration::days(1),
            end: end(),
            generation_time: end(),
            cluster: "cluster",
        };
        group.throughput(Throughput::Elements(nodes as u64));
        group.bench_function(format!("compute/{nodes}-nodes"), |b| {
            b.iter_batched(
                || docs.clone(),
                |docs| compute_report(request.clone(), docs).unwrap(),
                BatchSize::LargeInput,
            )
        });
        let (doc, _) = compute_report(request.clone(), docs.clone()).unwrap();
        group.bench_function(format!("render-all-downloads/{nodes}-nodes"), |b| {
            b.iter(|| {
                for d in Download::all() {
                    write_download(*d, &doc, std::io::sink()).unwrap();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
