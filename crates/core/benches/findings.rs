//! Criterion benchmarks of findings over time at scale: the diff of two 10,000-node
//! reports (130 tests per node, about 20 failing) and the lifecycle over 30 daily ones.
//!
//! The reports' findings are built once, node by node as the stores feed them
//! ([`DailyCluster::findings`]); `examples/findings_scale.rs` measures the same work with
//! its peak memory.

use compliance_core::report::{Lifecycle, ReportFindings, diff};
use compliance_testkit::sequence::DailyCluster;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const NODES: usize = 10_000;
const FAILING: usize = 20;
const DAYS: usize = 30;

fn bench(c: &mut Criterion) {
    let cluster = DailyCluster::new(NODES, FAILING);
    let mut group = c.benchmark_group("findings");
    group.sample_size(10);
    group.throughput(Throughput::Elements(NODES as u64));
    group.bench_function("index-one-report/10000-nodes", |b| {
        b.iter(|| cluster.findings(0))
    });
    let days: Vec<ReportFindings> = (0..DAYS).map(|d| cluster.findings(d)).collect();
    let failures: usize = days[0].failures.len();
    eprintln!("{failures} failures in a report of {NODES} nodes");
    group.bench_function("diff/10000-nodes", |b| b.iter(|| diff(&days[0], &days[1])));
    group.throughput(Throughput::Elements((NODES * DAYS) as u64));
    group.bench_function("lifecycle/30x10000-nodes", |b| {
        b.iter(|| {
            let mut l = Lifecycle::new();
            for d in &days {
                l.observe(d).unwrap();
            }
            l.findings()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
