//! Criterion benchmarks of the pure core and the renderers on a realistic cluster.
//!
//! Nodes run the real checks of `tests/fixtures/cis-1.23-master-newrelic.json` (125 tests
//! with their real descriptions and remediation texts). Sizes of 1,000 and 2,000 nodes show
//! that cost grows linearly; `scripts/bench-cluster.sh` measures the whole reporter on
//! 10,000 nodes with its peak memory.

use chrono::{DateTime, Utc};
use compliance_core::model::TextInterner;
use compliance_core::render::{Download, write_download};
use compliance_core::report::{ReportRequest, compute_report};
use compliance_testkit::fixtures;
use compliance_testkit::synth::{ClusterShape, cluster};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn end() -> DateTime<Utc> {
    fixtures::t(fixtures::END)
}

fn bench(c: &mut Criterion) {
    let mut interner = TextInterner::new();
    let run = fixtures::kube_bench(fixtures::LARGEST_OUTPUT, &mut interner);
    let report = fixtures::daily_report();
    let report_type = fixtures::cis_benchmark_type();

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
            reporter_version: "test",
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
